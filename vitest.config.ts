import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    environment: "node",
    include: ["test/**/*.test.ts"],
    // Integration tests start brokers, serial ptys and child processes: give them room on a 2-core machine.
    // Generous: a test that passes only on an idle machine is a test that fails in CI beside other work.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    maxWorkers: 2,
  },
});
