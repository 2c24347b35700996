import { UsageError } from "../../platform/cli.ts";
import { systemClock } from "../../platform/clock.ts";
import { ExitCode } from "../../platform/exit-codes.ts";
import { MachineRegistry } from "../registry/machine-registry.ts";
import { machineArgument } from "./cli-words.ts";
import { DexError } from "./dex-counters.ts";
import { dexExport } from "./dex-export.ts";
import { withOperatorStore } from "./operator-store.ts";
import { type Period, PeriodError, parsePeriod } from "./period.ts";
import type { ReportSubcommand } from "./report-command.ts";

/** `report dex <machine> [--from DATE] [--to DATE]`: the machine's EVA-DTS audit file on stdout (docs/dex-export.md). */
export const reportDex: ReportSubcommand = {
  usage: "dex <machine> [--from DATE] [--to DATE]",
  options: { from: { type: "string" }, to: { type: "string" } },
  run: async ({ out, env }, values, positionals) => {
    const [machine, extra] = positionals;
    if (machine === undefined) throw new UsageError("dex needs the machine id");
    if (extra !== undefined) throw new UsageError(`unexpected argument '${extra}'`);
    if (values.json) throw new UsageError("dex writes an EVA-DTS file; --json does not apply");
    const machineId = machineArgument(machine);
    let period: Period;
    try {
      period = parsePeriod({ from: values.from as string | undefined, to: values.to as string | undefined });
    } catch (error) {
      if (error instanceof PeriodError) throw new UsageError(error.message);
      throw error;
    }
    return withOperatorStore({ out, env }, values as { config?: string }, async (store, config) => {
      const registry = new MachineRegistry({ machines: config.machines, store, clock: systemClock, cacheMs: 0 });
      let dex: string;
      try {
        dex = await dexExport(store, registry, machineId, period, systemClock.now());
      } catch (error) {
        if (!(error instanceof DexError)) throw error;
        out.error(`vend-bridge report dex: ${error.message}`);
        return ExitCode.failure;
      }
      // Every segment ends in CR LF: the line's own LF comes from out.line.
      for (const line of dex.split("\r\n").slice(0, -1)) out.line(`${line}\r`);
      return ExitCode.ok;
    });
  },
};
