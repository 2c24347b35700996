import { UsageError } from "../../platform/cli.ts";
import { money } from "../operator/cli-words.ts";
import { type Period, PeriodError, parsePeriod } from "../operator/period.ts";
import { loadSales } from "../operator/sales.ts";
import { type SalesGrouping, type SalesReport, salesGroupings, salesReport } from "../operator/sales-report.ts";
import type { Store } from "../store/store.ts";
import { type Html, html } from "./html.ts";

export interface SalesSelection {
  by: SalesGrouping;
  period: Period;
  error?: string;
}

export function salesSelection(params: URLSearchParams): SalesSelection {
  const byWord = params.get("by") || "machine";
  const by = (salesGroupings as readonly string[]).includes(byWord) ? (byWord as SalesGrouping) : undefined;
  if (by === undefined) return { by: "machine", period: {}, error: `'${byWord}' is not machine, product or day` };
  try {
    return { by, period: parsePeriod({ from: params.get("from") || undefined, to: params.get("to") || undefined }) };
  } catch (error) {
    if (error instanceof PeriodError || error instanceof UsageError) return { by, period: {}, error: error.message };
    throw error;
  }
}

export async function salesOf(store: Store, selection: SalesSelection): Promise<SalesReport> {
  return salesReport(await loadSales(store, selection.period), selection.by);
}

export function salesBody(report: SalesReport, params: URLSearchParams, error: string | undefined): Html {
  const value = (name: string) => params.get(name) ?? "";
  const csv = new URLSearchParams({ by: report.by, from: value("from"), to: value("to") });
  return html`<form method="get" action="/console/sales" class="filters">
<label>Totals per<select name="by">${salesGroupings.map(
    (by) => html`<option${by === report.by ? html` selected` : ""}>${by}</option>`,
  )}</select></label>
<label>From (YYYY-MM-DD)<input name="from" value="${value("from")}"></label>
<label>To<input name="to" value="${value("to")}"></label>
<button type="submit">Show</button>
<a href="/console/sales.csv?${csv.toString()}" download>Download CSV</a>
</form>
${error ? html`<p class="error" role="alert">${error}</p>` : ""}
<table>
<thead><tr><th>${report.by}</th>${report.by === "product" ? html`<th>Name</th>` : ""}<th class="num">Purchases</th>
<th class="num">Vends</th><th class="num">Reserved</th><th class="num">Billed</th></tr></thead>
<tbody>${report.rows.map(
    (row) => html`<tr><td>${row.key}</td>${report.by === "product" ? html`<td>${row.name ?? "—"}</td>` : ""}
<td class="num">${row.purchases}</td><td class="num">${row.vends}</td>
<td class="num">${money(row.reservedMinor, row.currency)}</td><td class="num">${money(row.billedMinor, row.currency)}</td></tr>`,
  )}</tbody>
</table>
${report.rows.length === 0 ? html`<p>No sales in this period.</p>` : ""}
<p>DEX (EVA-DTS) audit files per machine are on the <a href="/console/fleet">Fleet</a> page.</p>`;
}
