import { formatMinor } from "../../platform/money.ts";
import { toCsv } from "./csv.ts";
import type { SalesReport } from "./sales-report.ts";

/**
 * The sales report as CSV: a header row, then one row per key and currency. Money is a decimal with the currency's
 * own number of minor digits (1.50 EUR, 150 JPY), in a column of its own next to the currency code.
 */
export function salesCsv(report: SalesReport): string {
  if (report.by === "product") {
    return toCsv(
      ["product", "name", "currency", "purchases", "vends", "billed"],
      report.rows.map((row) => [
        row.key,
        row.name,
        row.currency,
        row.purchases,
        row.vends,
        formatMinor(row.billedMinor, row.currency),
      ]),
    );
  }
  return toCsv(
    [report.by, "currency", "purchases", "vends", "reserved", "billed"],
    report.rows.map((row) => [
      row.key,
      row.currency,
      row.purchases,
      row.vends,
      formatMinor(row.reservedMinor ?? 0, row.currency),
      formatMinor(row.billedMinor, row.currency),
    ]),
  );
}
