#!/usr/bin/env node
import { loadOrReport } from "../config/cli.ts";
import { agentConfigSpec } from "../config/schema/agent.ts";
import { type CliCommand, parseCommandArgs, runCli } from "../platform/cli.ts";
import { ExitCode } from "../platform/exit-codes.ts";
import { createLogger } from "../platform/logger.ts";
import { agentToolCommands } from "./cli/commands.ts";

/** vend-agent: the composition root. `run` wires the parts of the agent; the other commands are technician tools. */
const runCommand: CliCommand = {
  name: "run",
  summary: "run the agent (the default command)",
  usage: "run [--config FILE] [--secrets-dir DIR]",
  run: async ({ argv, out, env }) => {
    const { values } = parseCommandArgs(argv, {});
    const loaded = loadOrReport(
      agentConfigSpec,
      { configFile: values.config, secretsDir: values["secrets-dir"], env },
      out,
    );
    if (!loaded.ok) return loaded.exitCode;
    const logger = createLogger({ name: "vend-agent", level: loaded.config.log.level });
    logger.error(
      { machineId: loaded.config.machine.id },
      "the agent's run loop is not built yet (issue 5); only the technician commands work",
    );
    return ExitCode.software;
  },
};

process.exitCode = await runCli("vend-agent", [runCommand, ...agentToolCommands], process.argv.slice(2));
