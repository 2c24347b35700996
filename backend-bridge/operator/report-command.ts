import type { ParseArgsConfig } from "node:util";
import { type CliCommand, type CliContext, parseCommandArgs, UsageError } from "../../platform/cli.ts";
import type { ExitCodeValue } from "../../platform/exit-codes.ts";
import { reportDex } from "./report-dex.ts";
import { reportReconcile } from "./report-reconcile.ts";
import { reportSales } from "./report-sales.ts";

/**
 * `vend-bridge report <subcommand>`: the operator's reports. Each subcommand is an entry of `reportSubcommands`
 * (its options, usage and run), so that another report is one more entry beside these.
 */
export interface ReportSubcommand {
  usage: string;
  options: NonNullable<ParseArgsConfig["options"]>;
  run(
    context: Pick<CliContext, "out" | "env">,
    values: Record<string, string | boolean | undefined>,
    positionals: string[],
  ): Promise<ExitCodeValue>;
}

export const reportSubcommands: Record<string, ReportSubcommand> = {
  sales: reportSales,
  dex: reportDex,
  reconcile: reportReconcile,
};

export function reportCommand(subcommands: Record<string, ReportSubcommand> = reportSubcommands): CliCommand {
  const names = Object.keys(subcommands);
  return {
    name: "report",
    summary: `operator reports: ${names.join(", ")}`,
    usage: `${names.map((name) => `report ${subcommands[name]?.usage}`).join(" | ")}   (all take --config FILE)`,
    run: async ({ argv, out, env }) => {
      const name = argv[0];
      if (name === undefined || name.startsWith("-")) throw new UsageError(`missing subcommand: ${names.join(", ")}`);
      const subcommand = Object.hasOwn(subcommands, name) ? subcommands[name] : undefined;
      if (!subcommand) throw new UsageError(`unknown subcommand '${name}' (${names.join(", ")})`);
      const { values, positionals } = parseCommandArgs(argv.slice(1), subcommand.options);
      return subcommand.run({ out, env }, values as Record<string, string | boolean | undefined>, positionals);
    },
  };
}
