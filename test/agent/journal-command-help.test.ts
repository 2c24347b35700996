import { expect, it } from "vitest";
import { agentToolCommands } from "../../agent/cli/commands.ts";
import { runCli } from "../../platform/cli.ts";
import { captureOutput } from "../cli/capture-output.ts";

/**
 * What a field technician reads about `vend-agent journal` before running it: its line in `vend-agent help` and its
 * own `--help` (usage and summary). In process, on the agent's real command list.
 */

it("vend-agent help lists the journal command with what it shows", async () => {
  const out = captureOutput();
  expect(await runCli("vend-agent", agentToolCommands, ["help"], { out, env: {} })).toBe(0);
  expect(out.stdout).toMatch(
    /^ {2}journal +show the durable journal: session, vends in flight, unacknowledged events$/m,
  );
});

it("vend-agent journal --help prints its usage and summary", async () => {
  const out = captureOutput();
  expect(await runCli("vend-agent", agentToolCommands, ["journal", "--help"], { out, env: {} })).toBe(0);
  expect(out.stdout).toBe(
    "usage: vend-agent journal [--config FILE] [--json]\n\nshow the durable journal: session, vends in flight, unacknowledged events\n",
  );
  expect(out.stderr).toBe("");
});
