import type { z } from "zod";
import { type CliCommand, parseCommandArgs, UsageError } from "../platform/cli.ts";
import { runConfigCommand } from "./cli.ts";
import type { ProgramConfigSpec } from "./load.ts";

/** The `config check|show|reference` command, the same for both programs. */
export function configCommand<S extends z.ZodType>(spec: ProgramConfigSpec<S>): CliCommand {
  return {
    name: "config",
    summary: "check the configuration, show the effective values with their sources, or print the key reference",
    usage: "config check|show|reference [--config FILE] [--secrets-dir DIR] [--json]",
    run: ({ argv, out, env }) => {
      const { values, positionals } = parseCommandArgs(argv, {});
      if (positionals.length > 1) throw new UsageError(`unexpected argument '${positionals[1]}'`);
      return runConfigCommand(
        spec,
        positionals[0],
        { configFile: values.config, secretsDir: values["secrets-dir"], env, json: values.json },
        out,
      );
    },
  };
}
