import { instant, money } from "../operator/cli-words.ts";
import type { PurchaseTimeline, TimelineEntry } from "../operator/purchases-query.ts";
import type { AuditEntry } from "../store/store.ts";
import { type Html, html } from "./html.ts";
import { csrfField } from "./layout.ts";
import { resolutionOf } from "./reconciliation.ts";
import type { ConsoleSession } from "./sessions.ts";

/**
 * One purchase: its figures, its flags with the resolve form (or who resolved them), the refund section of a committed
 * purchase, its timeline and SEQR calls.
 */
export function purchaseBody(
  found: PurchaseTimeline,
  audit: readonly AuditEntry[],
  session: ConsoleSession,
  message?: string,
  /** The refund section (console/refund-form.ts) of a committed purchase. */
  refund?: Html,
): Html {
  const { purchase } = found;
  const resolution = resolutionOf(audit, purchase.flags);
  const key = encodeURIComponent(purchase.sessionId);
  return html`<table class="card">
<tr><th>Session</th><td>${purchase.sessionId}</td></tr>
<tr><th>Machine</th><td>${purchase.machineId}</td></tr>
<tr><th>State</th><td>${purchase.state}${purchase.endReason ? html` (${purchase.endReason})` : ""}</td></tr>
<tr><th>Reserved</th><td>${money(purchase.reservedMinor, purchase.currency)}</td></tr>
<tr><th>Billed</th><td>${money(purchase.billedMinor, purchase.currency)}</td></tr>
<tr><th>Committed</th><td>${money(purchase.committedMinor, purchase.currency)}</td></tr>
<tr><th>Invoice</th><td>${purchase.invoiceReference ?? "—"}</td></tr>
<tr><th>Payment (ERS)</th><td>${purchase.ersReference ?? "—"}</td></tr>
<tr><th>Customer</th><td>${purchase.msisdn ?? "—"}</td></tr>
<tr><th>Created / closed</th><td>${instant(purchase.createdAt)} / ${instant(purchase.closedAt)}</td></tr>
</table>
${message ? html`<p class="error" role="alert">${message}</p>` : ""}
${
  purchase.flags.length === 0
    ? ""
    : html`<h2>Reconciliation</h2>
<p>${purchase.flags.map((flag) => html`<span class="flag">${flag}</span>`)}</p>
${
  resolution
    ? html`<p class="flag resolved" id="resolution">Resolved by ${resolution.operator} at ${instant(resolution.at)}: ${resolution.note}</p>`
    : html`<form method="post" action="/console/purchases/${key}/resolve" class="card">${csrfField(session)}
<label>Note (what was checked or done)<br><textarea name="note" required maxlength="2000"></textarea></label>
<p><button type="submit">Mark resolved</button></p>
</form>`
}
${slotForm(found, key, session)}`
}
${refund ?? ""}
<h2>Timeline</h2>
<table>
<thead><tr><th>At</th><th>What</th><th>Detail</th></tr></thead>
<tbody>${found.timeline.map(timelineRow)}</tbody>
</table>
<h2>SEQR calls</h2>
${
  found.outbox.length === 0
    ? html`<p>None.</p>`
    : html`<table>
<thead><tr><th>Call</th><th>Status</th><th class="num">Attempts</th><th>Last error</th></tr></thead>
<tbody>${found.outbox.map(
        (
          item,
        ) => html`<tr><td>${item.kind}</td><td>${item.status}${item.outcomeUnknown ? " (outcome unknown)" : ""}</td>
<td class="num">${item.attempts}</td><td>${item.lastError ?? "—"}</td></tr>`,
      )}</tbody>
</table>`
}`;
}

/**
 * Take a slot of this purchase out of service (console/slot-out-of-service.ts): the slots its vends used, the ones
 * whose vend did not end `vended` (a jam, a product stuck, an unknown outcome) first.
 */
function slotForm(found: PurchaseTimeline, key: string, session: ConsoleSession): Html {
  const slots = new Map<string, { name: string | undefined; troubled: boolean }>();
  for (const entry of found.timeline) {
    if (entry.kind !== "vend") continue;
    const known = slots.get(entry.selection);
    slots.set(entry.selection, {
      name: known?.name ?? entry.name ?? undefined,
      troubled: (known?.troubled ?? false) || entry.outcome !== "vended",
    });
  }
  if (slots.size === 0) return html``;
  const ordered = [...slots].sort(([, a], [, b]) => Number(b.troubled) - Number(a.troubled));
  return html`<form method="post" action="/console/purchases/${key}/slot-out-of-service" class="card">${csrfField(session)}
<label>Slot<br><select name="selection">${ordered.map(
    ([selection, slot]) =>
      html`<option value="${selection}">${selection}${slot.name ? ` ${slot.name}` : ""}${slot.troubled ? " (vend not delivered)" : ""}</option>`,
  )}</select></label>
<p><button type="submit">Take the slot out of service</button> It leaves the machine's catalog (pushed to the machine);
put it back on the catalog page.</p>
</form>`;
}

function timelineRow(entry: TimelineEntry): Html {
  if (entry.kind === "vend") {
    return html`<tr><td>${instant(entry.at)}</td><td>vend ${entry.outcome}</td>
<td>${entry.name ?? entry.sku ?? entry.selection} (selection ${entry.selection}), ${entry.priceMinor} minor${
      entry.evidence ? html`<br>${entry.evidence}` : ""
    }</td></tr>`;
  }
  const move = entry.fromState === entry.toState ? "" : ` ${entry.fromState ?? "—"} → ${entry.toState ?? "—"}`;
  return html`<tr class="audit"><td>${instant(entry.at)}</td><td>${entry.reason}${move}</td>
<td>${entry.detail ? html`<pre>${JSON.stringify(entry.detail, null, 1)}</pre>` : ""}</td></tr>`;
}
