import { UsageError } from "../../platform/cli.ts";
import { ExitCode } from "../../platform/exit-codes.ts";
import { machineArgument, money } from "./cli-words.ts";
import { withOperatorStore } from "./operator-store.ts";
import { type Period, PeriodError, parsePeriod, parseUtcOffset } from "./period.ts";
import type { ReportSubcommand } from "./report-command.ts";
import { loadSales } from "./sales.ts";
import { salesCsv } from "./sales-csv.ts";
import { type SalesGrouping, salesGroupings, salesReport } from "./sales-report.ts";

/** `report sales [--from DATE] [--to DATE] [--by machine|product|day] [--machine M] [--utc-offset=+HH:MM|-HH:MM] [--csv|--json]` */
export const reportSales: ReportSubcommand = {
  usage:
    "sales [--from DATE] [--to DATE] [--by machine|product|day] [--machine M] [--utc-offset=+HH:MM|-HH:MM] [--csv|--json]",
  options: {
    from: { type: "string" },
    to: { type: "string" },
    by: { type: "string" },
    machine: { type: "string" },
    "utc-offset": { type: "string" },
    csv: { type: "boolean" },
  },
  run: async ({ out, env }, values, positionals) => {
    if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
    if (values.csv && values.json) throw new UsageError("--csv and --json: choose one");
    const by = (values.by ?? "machine") as string;
    if (!(salesGroupings as readonly string[]).includes(by)) {
      throw new UsageError(`--by '${by}' is not one of ${salesGroupings.join(", ")}`);
    }
    const machineId = typeof values.machine === "string" ? machineArgument(values.machine) : undefined;
    let offset: number;
    let period: Period;
    try {
      offset = typeof values["utc-offset"] === "string" ? parseUtcOffset(values["utc-offset"]) : 0;
      period = parsePeriod({ from: values.from as string | undefined, to: values.to as string | undefined }, offset);
    } catch (error) {
      if (error instanceof PeriodError) throw new UsageError(error.message);
      throw error;
    }
    return withOperatorStore({ out, env }, values as { config?: string }, async (store) => {
      const sales = await loadSales(store, { ...period, ...(machineId !== undefined ? { machineId } : {}) });
      const report = salesReport(sales, by as SalesGrouping, offset);
      if (values.json) {
        out.json({
          by: report.by,
          from: period.from === undefined ? null : new Date(period.from).toISOString(),
          to: period.to === undefined ? null : new Date(period.to).toISOString(),
          utcOffsetMinutes: offset,
          rows: report.rows,
        });
      } else if (values.csv) {
        // Each row of the CSV ends in CR LF (RFC 4180): the line's own LF comes from out.line.
        for (const line of salesCsv(report).split("\r\n").slice(0, -1)) out.line(`${line}\r`);
      } else if (report.rows.length === 0) out.line("no sales");
      else {
        for (const row of report.rows) {
          const reserved = row.reservedMinor === null ? "" : `  reserved ${money(row.reservedMinor, row.currency)}`;
          const name = row.name ? ` ${row.name}` : "";
          out.line(
            `${row.key}${name}  ${row.purchases} purchases  ${row.vends} vends${reserved}  billed ${money(row.billedMinor, row.currency)}`,
          );
        }
      }
      return ExitCode.ok;
    });
  },
};
