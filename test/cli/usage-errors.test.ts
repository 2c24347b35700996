import { describe, expect, it } from "vitest";
import { agentToolCommands } from "../../agent/cli/commands.ts";
import { bridgeToolCommands } from "../../backend-bridge/cli/commands.ts";
import { type CliCommand, runCli } from "../../platform/cli.ts";
import { ExitCode } from "../../platform/exit-codes.ts";
import { runProgram } from "../helpers/run-cli.ts";
import { captureOutput } from "./capture-output.ts";

/**
 * Every usage error names what was wrong in our words (not Node's parseArgs text) and shows the command's usage line,
 * with exit 2. A few cases go through the real programs in child processes; the full table runs in-process through the
 * same dispatcher.
 */

const noParseArgsText = /To specify a positional|argument missing|does not take an argument|ERR_PARSE_ARGS/;

describe("usage errors through the real CLIs", () => {
  const cases = [
    {
      entry: "agent/main.ts",
      args: ["doctor", "--bogus"],
      says: "vend-agent doctor: unknown option --bogus",
      usage: "usage: vend-agent doctor [--config FILE] [--json]",
    },
    {
      entry: "agent/main.ts",
      args: ["config", "bogus"],
      says: "vend-agent config: unknown subcommand 'bogus' (check, show or reference)",
      usage: "usage: vend-agent config check|show|reference",
    },
    {
      entry: "backend-bridge/main.ts",
      args: ["machines", "remove"],
      says: "vend-bridge machines: remove needs the machine id",
      usage: "usage: vend-bridge machines list",
    },
  ];
  it("names the mistake and shows the usage line, exit 2", { timeout: 180_000 }, async () => {
    // One after the other: each is a whole Node process with tsx, and the machine may be busy.
    for (const { entry, args, says, usage } of cases) {
      const run = await runProgram(entry, args, {}, 60_000);
      expect(run.code, `${args.join(" ")}\n${run.stderr}`).toBe(ExitCode.usage);
      expect(run.stderr).toContain(says);
      expect(run.stderr).toContain(usage);
      expect(run.stderr).not.toMatch(noParseArgsText);
      expect(run.stderr).not.toMatch(/1-32 characters/);
    }
  });
});

describe("usage errors, every kind (in-process)", () => {
  const table: Array<[string, readonly CliCommand[], string[], string]> = [
    ["vend-agent", agentToolCommands, ["doctor", "--config"], "vend-agent doctor: --config needs a value"],
    ["vend-agent", agentToolCommands, ["doctor", "-c"], "vend-agent doctor: -c needs a value"],
    ["vend-agent", agentToolCommands, ["doctor", "--json=yes"], "vend-agent doctor: --json takes no value"],
    ["vend-agent", agentToolCommands, ["doctor", "now"], "vend-agent doctor: unexpected argument 'now'"],
    ["vend-agent", agentToolCommands, ["qr", "-x"], "vend-agent qr: unknown option -x"],
    ["vend-agent", agentToolCommands, ["config"], "vend-agent config: missing subcommand: check, show or reference"],
    ["vend-agent", agentToolCommands, ["config", "check", "extra"], "vend-agent config: unexpected argument 'extra'"],
    ["vend-agent", agentToolCommands, ["mqtt"], "vend-agent mqtt: missing subcommand: check"],
    ["vend-agent", agentToolCommands, ["mqtt", "status"], "vend-agent mqtt: unknown subcommand 'status'"],
    [
      "vend-bridge",
      bridgeToolCommands,
      ["machines"],
      "vend-bridge machines: missing subcommand: list, add, rotate-key, rotate-password, remove, export-mosquitto",
    ],
    ["vend-bridge", bridgeToolCommands, ["machines", "drop"], "vend-bridge machines: unknown subcommand 'drop'"],
    ["vend-bridge", bridgeToolCommands, ["machines", "add"], "vend-bridge machines: add needs the machine id"],
    ["vend-bridge", bridgeToolCommands, ["machines", "list", "M1"], "vend-bridge machines: unexpected argument 'M1'"],
    ["vend-bridge", bridgeToolCommands, ["machines", "remove", "a b"], "'a b' is not a machine id: 1-32 characters"],
    ["vend-bridge", bridgeToolCommands, ["config", "frob"], "vend-bridge config: unknown subcommand 'frob'"],
  ];
  const rows = table.map(([program, commands, argv, says]) => ({
    program,
    commands,
    argv,
    says,
    args: argv.join(" "),
  }));
  it.each(rows)("$program $args", async ({ program, commands, argv, says }) => {
    const out = captureOutput();
    const code = await runCli(program, commands, argv, { out, env: {} });
    expect(code, out.stderr).toBe(ExitCode.usage);
    expect(out.stderr).toContain(says);
    const command = commands.find((candidate) => candidate.name === argv[0]);
    expect(out.stderr).toContain(`usage: ${program} ${command?.usage}`);
    expect(out.stderr).not.toMatch(noParseArgsText);
    expect(out.stdout).toBe("");
  });
});
