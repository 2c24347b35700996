import { z } from "zod";
import { displayAmount } from "../../platform/money.ts";
import { isRefundId, type RefundDependencies, type RefundOutcome, refundPurchase } from "../operator/refund.ts";
import { refundAmountSchema } from "../operator/refund-amount.ts";
import { decideRefund, refundedMinor } from "../operator/refund-decision.ts";
import type { RefundRecord, Store } from "../store/store.ts";
import { maxNoteLength } from "./reconciliation.ts";

/**
 * The console's refund of a committed purchase: the form is checked here (zod) and then handed to the same
 * refundPurchase as `vend-bridge refund`, with the console login as the actor. A bad amount is answered before anything
 * is written or sent; the form's refund id (fresh with each rendering of the page) makes a second click or a reload
 * of the answer a repeat that refundPurchase answers from the store, never a second refund.
 */

/** What the purchase's page says after a refund action, in an operator's words. */
export interface RefundNotice {
  kind: "done" | "refused" | "unknown";
  text: string;
}

export interface RefundAnswer {
  status: number;
  notice: RefundNotice;
  /** The amount as typed, offered again when it was refused. */
  typedAmount?: string;
}

/** The refund figures of a committed purchase; undefined for a purchase that is not committed (nothing to refund). */
export interface RefundPanel {
  currency: string;
  committedMinor: number;
  refundedMinor: number;
  refundableMinor: number;
  /** Why no refund can be sent (no SEQR payment reference, nothing left); undefined when the form is offered. */
  refusal: string | undefined;
  refunds: RefundRecord[];
}

export async function refundPanel(store: Store, sessionId: string): Promise<RefundPanel | undefined> {
  const purchase = await store.getPurchase(sessionId);
  if (purchase?.state !== "committed") return undefined;
  const refunds = await store.listRefunds(sessionId);
  const decision = decideRefund(purchase, refunds, undefined);
  return {
    currency: purchase.currency,
    committedMinor: purchase.committedMinor ?? purchase.billedMinor ?? 0,
    refundedMinor: refundedMinor(refunds),
    refundableMinor: decision.refundableMinor,
    refusal: decision.send ? undefined : decision.reason,
    refunds,
  };
}

function refundFormSchema(currency: string, refundableMinor: number) {
  return z
    .object({
      refundId: z.string().refine(isRefundId, "the form's refund id is damaged: reload the page and try again"),
      amount: refundAmountSchema(currency),
      note: z.string().trim().max(maxNoteLength, `the note is longer than ${maxNoteLength} characters`),
    })
    .superRefine((form, context) => {
      if (form.amount > refundableMinor) {
        context.addIssue({
          code: "custom",
          path: ["amount"],
          message: `${displayAmount(form.amount, currency)} is more than is left to refund (${displayAmount(refundableMinor, currency)})`,
        });
      }
    });
}

export async function refundFromConsole(
  deps: RefundDependencies,
  request: { sessionId: string; operator: string; form: URLSearchParams },
): Promise<RefundAnswer> {
  const { sessionId, operator, form } = request;
  const typedAmount = form.get("amount") ?? "";
  const refundId = form.get("refundId") ?? "";
  const purchase = await deps.store.getPurchase(sessionId);
  if (!purchase) return { status: 404, notice: { kind: "refused", text: "No such purchase." } };
  // A refund id already in the store is a repeat (a double click): refundPurchase answers it as it was, whatever the
  // amount field says now.
  const known = isRefundId(refundId) ? await deps.store.getRefund(refundId) : undefined;
  let amountMinor: number | undefined;
  let note = "";
  if (!known) {
    const decision = decideRefund(purchase, await deps.store.listRefunds(sessionId), undefined);
    if (!decision.send) return { status: 409, notice: { kind: "refused", text: `Not refunded: ${decision.reason}.` } };
    const parsed = refundFormSchema(purchase.currency, decision.refundableMinor).safeParse({
      refundId,
      amount: typedAmount,
      note: form.get("note") ?? "",
    });
    if (!parsed.success) {
      const reasons = parsed.error.issues.map((issue) => issue.message).join("; ");
      return { status: 400, notice: { kind: "refused", text: `Not refunded: ${reasons}.` }, typedAmount };
    }
    amountMinor = parsed.data.amount;
    note = parsed.data.note;
  }
  const outcome = await refundPurchase(deps, {
    sessionId,
    refundId,
    actor: operator,
    ...(amountMinor !== undefined ? { amountMinor } : {}),
    ...(note ? { note } : {}),
  });
  return answerOf(outcome);
}

/** Each outcome in plain words: what happened to the customer's money and what, if anything, is left to do. */
export function answerOf(outcome: RefundOutcome): RefundAnswer {
  switch (outcome.outcome) {
    case "not-found":
      return { status: 404, notice: { kind: "refused", text: "No such purchase." } };
    case "refused":
      return { status: 409, notice: { kind: "refused", text: `Not refunded: ${outcome.reason}.` } };
    default: {
      const { refund, explanation, repeated } = outcome;
      const amount = displayAmount(refund.amountMinor, refund.currency);
      const again = repeated
        ? ` This refund (${refund.refundId}) was already sent, the form was sent twice: nothing was sent again.`
        : "";
      switch (outcome.outcome) {
        case "refunded": {
          const reference = refund.ersReference ? `, SEQR reference ${refund.ersReference}` : "";
          const text = `Refunded ${amount} to the customer (refund ${refund.refundId}${reference}).${again}`;
          return { status: 200, notice: { kind: "done", text } };
        }
        case "failed":
          return {
            status: 200,
            notice: {
              kind: "refused",
              text: `SEQR refused the refund of ${amount}: ${explanation}. Nothing was refunded.${again}`,
            },
          };
        case "pending":
          return {
            status: 200,
            notice: {
              kind: "unknown",
              text: `The refund of ${amount} is being sent to SEQR. Reload the page in a moment for SEQR's answer.${again}`,
            },
          };
        default:
          return {
            status: 200,
            notice: {
              kind: "unknown",
              text: `No answer from SEQR: the refund of ${amount} may have gone through. It counts as refunded until the period close or SEQR's portal says otherwise; the purchase is flagged refund-outcome-unknown for reconciliation.${again}`,
            },
          };
      }
    }
  }
}
