import { formatMinor } from "../../platform/money.ts";
import { instant, money } from "../operator/cli-words.ts";
import { newRefundId } from "../operator/refund.ts";
import { type Html, html } from "./html.ts";
import { csrfField } from "./layout.ts";
import type { RefundAnswer, RefundPanel } from "./refund-action.ts";
import type { ConsoleSession } from "./sessions.ts";

/**
 * The refund section of a committed purchase's page: what was billed and refunded, the refunds so far, the answer to
 * the last refund action, and the form. The form carries a refund id made for this rendering: sent twice, it is one
 * refund (operator/refund.ts answers a known id from the store).
 */
export function refundSection(
  sessionId: string,
  panel: RefundPanel,
  session: ConsoleSession,
  answer?: RefundAnswer,
): Html {
  const { currency } = panel;
  const amount = answer?.typedAmount ?? formatMinor(panel.refundableMinor, currency);
  return html`<h2>Refund</h2>
<table class="card" id="refund-figures">
<tr><th>Billed</th><td>${money(panel.committedMinor, currency)}</td></tr>
<tr><th>Refunded</th><td>${money(panel.refundedMinor, currency)}</td></tr>
<tr><th>Left to refund</th><td>${money(panel.refundableMinor, currency)}</td></tr>
</table>
${
  answer
    ? html`<p id="refund-outcome" class="refund-${answer.notice.kind}" role="${answer.notice.kind === "done" ? "status" : "alert"}">${answer.notice.text}</p>`
    : ""
}
${
  panel.refunds.length === 0
    ? ""
    : html`<table id="refunds">
<thead><tr><th>Refund</th><th class="num">Amount</th><th>Status</th><th>By</th><th>At</th><th>Note</th></tr></thead>
<tbody>${panel.refunds.map(
        (
          refund,
        ) => html`<tr><td>${refund.refundId}</td><td class="num">${money(refund.amountMinor, refund.currency)}</td>
<td>${refund.status}${refund.resultCode !== null && refund.resultCode !== 0 ? ` (SEQR ${refund.resultCode})` : ""}</td>
<td>${refund.actor}</td><td>${instant(refund.createdAt)}</td><td>${refund.note ?? ""}</td></tr>`,
      )}</tbody>
</table>`
}
${
  panel.refusal
    ? html`<p>No refund from here: ${panel.refusal}.</p>`
    : html`<form method="post" action="/console/purchases/${encodeURIComponent(sessionId)}/refund" class="card" id="refund-form">${csrfField(session)}
<input type="hidden" name="refundId" value="${newRefundId()}">
<label>Amount to give back (${currency})<br><input name="amount" value="${amount}" inputmode="decimal" autocomplete="off" required></label>
<label>Note (why)<br><textarea name="note" maxlength="2000"></textarea></label>
<p><button type="submit">Refund through SEQR</button></p>
</form>`
}`;
}
