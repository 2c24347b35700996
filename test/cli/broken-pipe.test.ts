import { describe, expect, it } from "vitest";
import { runProgram } from "../helpers/run-cli.ts";
import { writeAgentConfig } from "./fixtures.ts";

/**
 * `vend-agent doctor | head -1`: once the reader has gone, the CLI stops quietly instead of dying with an EPIPE stack
 * trace. The child's stdout is closed before it writes anything, so every run hits the broken pipe.
 */

const configFile = writeAgentConfig({ mqtt: { url: "mqtt://127.0.0.1:1" } });

const cases = [
  { entry: "agent/main.ts", args: ["doctor", "--config", configFile] },
  { entry: "agent/main.ts", args: ["config", "reference"] },
  { entry: "backend-bridge/main.ts", args: ["config", "reference"] },
];

describe("a closed stdout (| head) ends the CLI quietly", () => {
  it.each(cases)("$entry $args.0 $args.1", { timeout: 120_000 }, async ({ entry, args }) => {
    const run = await runProgram(entry, args, {}, 60_000, { closeStdout: true });
    expect(run.stderr).not.toMatch(/EPIPE|Error|at /);
    expect(run.code, run.stderr).toBe(0);
  });
});
