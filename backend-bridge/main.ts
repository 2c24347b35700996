#!/usr/bin/env node
import { loadOrReport } from "../config/cli.ts";
import { bridgeConfigSpec } from "../config/schema/bridge.ts";
import { type CliCommand, parseCommandArgs, runCli } from "../platform/cli.ts";
import { ExitCode } from "../platform/exit-codes.ts";
import { createLogger } from "../platform/logger.ts";
import { bridgeToolCommands } from "./cli/commands.ts";

/** vend-bridge: the composition root. `run` wires the parts of the bridge; the other commands are operator tools. */
const runCommand: CliCommand = {
  name: "run",
  summary: "run the bridge (the default command)",
  usage: "run [--config FILE] [--secrets-dir DIR]",
  run: async ({ argv, out, env }) => {
    const { values } = parseCommandArgs(argv, {});
    const loaded = loadOrReport(
      bridgeConfigSpec,
      { configFile: values.config, secretsDir: values["secrets-dir"], env },
      out,
    );
    if (!loaded.ok) return loaded.exitCode;
    const logger = createLogger({ name: "vend-bridge", level: loaded.config.log.level });
    logger.error("the bridge's server is not built yet (issue 4); only the operator commands work");
    return ExitCode.software;
  },
};

process.exitCode = await runCli("vend-bridge", [runCommand, ...bridgeToolCommands], process.argv.slice(2));
