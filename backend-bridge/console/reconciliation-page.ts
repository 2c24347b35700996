import { instant, money } from "../operator/cli-words.ts";
import { type Html, html } from "./html.ts";
import type { QueueItem } from "./reconciliation.ts";

export function reconciliationBody(items: readonly QueueItem[]): Html {
  if (items.length === 0) return html`<p>Nothing to reconcile.</p>`;
  return html`<table>
<thead><tr><th>Purchase</th><th>Machine</th><th>State</th><th class="num">Billed</th><th>Flags</th><th>Evidence</th></tr></thead>
<tbody>${items.map(
    ({ purchase, evidence }) => html`<tr>
<td><a href="/console/purchases/${encodeURIComponent(purchase.sessionId)}">${purchase.sessionId}</a><br>${instant(purchase.createdAt)}</td>
<td>${purchase.machineId}</td>
<td>${purchase.state}</td>
<td class="num">${money(purchase.committedMinor ?? purchase.billedMinor, purchase.currency)}</td>
<td>${purchase.flags.map((flag) => html`<span class="flag">${flag}</span>`)}</td>
<td>${evidence.map(
      (entry) =>
        html`<div>${instant(entry.at)} ${entry.reason}${entry.detail ? html`<pre>${JSON.stringify(entry.detail)}</pre>` : ""}</div>`,
    )}</td>
</tr>`,
  )}</tbody>
</table>
<p>Open a purchase to mark it resolved with a note.</p>`;
}
