import type { Alarm } from "../alarms/alarm-rules.ts";
import { instant } from "../operator/cli-words.ts";
import type { PurchaseView } from "../operator/purchase-view.ts";
import { listPurchases } from "../operator/purchases-query.ts";
import type { AuditEntry, Store } from "../store/store.ts";
import { alarmList } from "./alarm-view.ts";
import { type FleetRow, fleetCells, fleetHeadings } from "./fleet-page.ts";
import { type Html, html } from "./html.ts";
import { purchaseTable } from "./purchases-page.ts";

const recentPurchases = 20;
const recentEvents = 50;

/**
 * A machine's recent purchases and its events as the store has them: the audit log of those purchases (every state
 * change, vend report, flag and operator action), newest first. Faults the machine reports outside a purchase are
 * not audited; its last fault and out-of-service reason are in the summary.
 */
export async function machineHistory(
  store: Store,
  machineId: string,
): Promise<{ purchases: PurchaseView[]; events: AuditEntry[] }> {
  const purchases = await listPurchases(store, { machineId, limit: recentPurchases });
  const events: AuditEntry[] = [];
  // Each purchase's log newest first, then a stable sort: entries of the same millisecond keep the log's order.
  for (const purchase of purchases) events.push(...(await store.listAudit(purchase.sessionId)).reverse());
  events.sort((a, b) => b.at - a.at);
  return { purchases, events: events.slice(0, recentEvents) };
}

function eventRows(events: readonly AuditEntry[]): Html {
  if (events.length === 0) return html`<p>No event recorded.</p>`;
  return html`<table>
<thead><tr><th>At</th><th>Purchase</th><th>Event</th><th>State</th><th>Detail</th></tr></thead>
<tbody>${events.map(
    (event) => html`<tr class="audit">
<td>${instant(event.at)}</td>
<td>${event.sessionId ? html`<a href="/console/purchases/${encodeURIComponent(event.sessionId)}">${event.sessionId}</a>` : "—"}</td>
<td>${event.reason}</td>
<td>${event.fromState ?? "—"} → ${event.toState ?? "—"}</td>
<td><pre>${event.detail ? JSON.stringify(event.detail) : ""}</pre></td>
</tr>`,
  )}</tbody>
</table>`;
}

export function machineBody(
  row: FleetRow,
  history: { purchases: readonly PurchaseView[]; events: readonly AuditEntry[] },
  alarms: readonly Alarm[],
): Html {
  const id = encodeURIComponent(row.machineId);
  return html`<p>${row.name ?? ""}</p>
<table><thead><tr>${fleetHeadings}</tr></thead><tbody><tr data-machine="${row.machineId}">${fleetCells(row)}</tr></tbody></table>
<p>Exports: <a href="/console/machines/${id}/dex">DEX (EVA-DTS) audit</a> ·
<a href="/console/purchases?machine=${id}">all purchases</a></p>
<h2>Open alarms</h2>
${alarmList(alarms)}
<h2>Recent purchases</h2>
${purchaseTable(history.purchases)}
<h2>Recent events</h2>
${eventRows(history.events)}`;
}
