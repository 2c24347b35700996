import { defineConfig } from "vitest/config";
import base from "./vitest.config.ts";

/**
 * The tests Stryker runs against each mutant (stryker.config.mjs): the in-process unit and integration tests of the
 * mutated modules. Left out: suites that start child processes, ptys, browsers or systemd (the mutant lives in the
 * test runner's process, so a child process never runs it), the chaos run, and the 20 s purchase model test (one test
 * covering every bridge line would run for every bridge mutant). Stryker's related mode narrows this list further to
 * the files that import the mutated module.
 *
 * MUTATION_TESTS (comma-separated paths or globs) replaces the list for a quicker run of one module against its own
 * tests; a score measured so can only be lower than with the full list. scripts/mutation.ts records it per run.
 */
export const mutationTests = [
  "test/protocol/signing.test.ts",
  "test/agent/validate-command.test.ts",
  "test/agent/command-handler.test.ts",
  "test/agent/journal.test.ts",
  "test/agent/journal-power-loss.test.ts",
  "test/agent/journal-write-errors.test.ts",
  "test/agent/motor-durability.test.ts",
  "test/agent/vend-session.test.ts",
  "test/agent/vend-session-edges.test.ts",
  "test/agent/selection-first.test.ts",
  "test/agent/vend-session-mutants.test.ts",
  "test/agent/decide.test.ts",
  "test/agent/journal-state.test.ts",
  "test/agent/record-file.test.ts",
  "test/agent/journal-files.test.ts",
  "test/hardware/codecs.test.ts",
  "test/hardware/mdb-cashless.test.ts",
  "test/hardware/mdb-vend-edges.test.ts",
  "test/hardware/vmc-multivend.test.ts",
  // In-process with a fake clock (about a second each): the MDB driver against what real adapters print, and the
  // driver's conditions one at a time (issue 16).
  "test/hardware/mdb-real-adapters.test.ts",
  "test/hardware/mdb-driver-*.test.ts",
  "test/broker/access-control.test.ts",
  "test/broker/password-hash.test.ts",
  "test/broker/machine-secret.test.ts",
  "test/broker/login-cost.test.ts",
  "test/broker/machine-admission.test.ts",
  "test/platform/http-json.test.ts",
  "test/platform/money.test.ts",
  "test/fleet/command-builder.test.ts",
  "test/bridge/*.test.ts",
];

// Not mergeConfig: it would concatenate `include` with the full suite's.
export default defineConfig({
  test: {
    ...base.test,
    include: process.env.MUTATION_TESTS ? process.env.MUTATION_TESTS.split(",") : mutationTests,
    exclude: [
      "test/bridge/bridge-sigkill.test.ts",
      "test/bridge/machines-cli.test.ts",
      "test/bridge/purchase-model.test.ts",
    ],
  },
});
