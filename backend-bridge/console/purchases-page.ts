import { UsageError } from "../../platform/cli.ts";
import { instant, machineArgument, money, stateArgument } from "../operator/cli-words.ts";
import { PeriodError, parsePeriod } from "../operator/period.ts";
import type { PurchaseView } from "../operator/purchase-view.ts";
import { listPurchases } from "../operator/purchases-query.ts";
import { type PurchaseQuery, purchaseStates, type Store } from "../store/store.ts";
import { type Html, html } from "./html.ts";

/** The purchase filters from the page's query string; a word that is not allowed becomes the page's error message. */
export function purchaseFilters(params: URLSearchParams): { query: PurchaseQuery; error?: string } {
  const query: PurchaseQuery = {};
  try {
    const machine = params.get("machine") || undefined;
    const state = params.get("state") || undefined;
    if (machine !== undefined) query.machineId = machineArgument(machine);
    if (state !== undefined) query.states = [stateArgument(state)];
    if (params.get("flagged") === "1") query.flagged = true;
    Object.assign(query, parsePeriod({ from: params.get("from") || undefined, to: params.get("to") || undefined }));
    return { query };
  } catch (error) {
    if (error instanceof UsageError || error instanceof PeriodError) return { query: {}, error: error.message };
    throw error;
  }
}

export async function purchasesBody(store: Store, params: URLSearchParams): Promise<Html> {
  const { query, error } = purchaseFilters(params);
  const purchases = error === undefined ? await listPurchases(store, query) : [];
  const value = (name: string) => params.get(name) ?? "";
  return html`<form method="get" action="/console/purchases" class="filters">
<label>Machine<input name="machine" value="${value("machine")}"></label>
<label>State<select name="state"><option value="">any</option>${purchaseStates.map(
    (state) => html`<option${state === value("state") ? html` selected` : ""}>${state}</option>`,
  )}</select></label>
<label>From (YYYY-MM-DD)<input name="from" value="${value("from")}"></label>
<label>To<input name="to" value="${value("to")}"></label>
<label><span>Flagged only</span><input type="checkbox" name="flagged" value="1"${query.flagged ? html` checked` : ""}></label>
<button type="submit">Filter</button>
</form>
${error ? html`<p class="error" role="alert">${error}</p>` : ""}
${purchaseTable(purchases)}`;
}

export function purchaseTable(purchases: readonly PurchaseView[]): Html {
  if (purchases.length === 0) return html`<p>No purchase matches.</p>`;
  return html`<table>
<thead><tr><th>Created</th><th>Purchase</th><th>Machine</th><th>State</th><th class="num">Reserved</th>
<th class="num">Billed</th><th>Flags</th></tr></thead>
<tbody>${purchases.map(
    (purchase) => html`<tr>
<td>${instant(purchase.createdAt)}</td>
<td><a href="/console/purchases/${encodeURIComponent(purchase.sessionId)}">${purchase.sessionId}</a></td>
<td>${purchase.machineId}</td>
<td>${purchase.state}</td>
<td class="num">${money(purchase.reservedMinor, purchase.currency)}</td>
<td class="num">${money(purchase.committedMinor ?? purchase.billedMinor, purchase.currency)}</td>
<td>${purchase.flags.map((flag) => html`<span class="flag">${flag}</span>`)}</td>
</tr>`,
  )}</tbody>
</table>`;
}
