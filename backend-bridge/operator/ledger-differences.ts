import type { PeriodReport } from "../seqr/period-report.ts";
import type { Purchase, RefundRecord } from "../store/store.ts";

/**
 * SEQR's report of a closed period against our ledger, as a list of differences (pure; period-close.ts gathers the
 * inputs and records the result). Matched by ersReference: SEQR's payments against committed purchases and their
 * committed amount, SEQR's refunds against our refunds; and the other way round, our committed purchases and
 * confirmed refunds of the checked window that SEQR has not reported in any period.
 */

export type DifferenceKind =
  /** SEQR took money the bridge has no purchase for (stored as an item of its own). */
  | "payment-unknown-to-bridge"
  /** SEQR took another amount than the purchase committed, or the purchase is not committed here. */
  | "payment-differs"
  /** A purchase committed here that SEQR has reported in no period. */
  | "payment-missing-at-seqr"
  /** A committed purchase without SEQR's payment reference: it cannot be matched. */
  | "payment-reference-missing"
  /** SEQR refunded money the bridge has no refund for. */
  | "refund-unknown-to-bridge"
  /** SEQR refunded another amount than the refund recorded here. */
  | "refund-differs"
  /** A refund SEQR confirmed to us that it has reported in no period. */
  | "refund-missing-at-seqr";

export interface Difference {
  kind: DifferenceKind;
  ersReference: string;
  /** The purchase it belongs to, when there is one: the difference is flagged on it. */
  sessionId: string | null;
  detail: Record<string, unknown>;
}

export interface LedgerComparisonInput {
  report: PeriodReport;
  /** Our purchases for the report's payment references (and the payments its refunds refer to). */
  purchasesByErs: ReadonlyMap<string, Purchase>;
  /** Our refunds for the report's refund references. */
  refundsByErs: ReadonlyMap<string, RefundRecord>;
  /** Committed purchases and confirmed refunds of the checked window. */
  committedInWindow: readonly Purchase[];
  refundsInWindow: readonly RefundRecord[];
  /** Every reference SEQR has reported in any closed period, this one included. */
  reportedBySeqr: ReadonlySet<string>;
}

export function ledgerDifferences(input: LedgerComparisonInput): Difference[] {
  const differences: Difference[] = [];
  const add = (kind: DifferenceKind, ersReference: string, sessionId: string | null, detail: Record<string, unknown>) =>
    differences.push({ kind, ersReference, sessionId, detail });

  for (const payment of input.report.payments) {
    const seqr = { amountMinor: payment.amountMinor, currency: payment.currency };
    const purchase = input.purchasesByErs.get(payment.ersReference);
    if (!purchase) {
      add("payment-unknown-to-bridge", payment.ersReference, null, {
        seqr: { ...seqr, invoiceReference: payment.invoiceReference, clientInvoiceId: payment.clientInvoiceId },
      });
      continue;
    }
    const ours = { state: purchase.state, amountMinor: purchase.committedMinor, currency: purchase.currency };
    if (purchase.state !== "committed" || ours.amountMinor !== seqr.amountMinor || ours.currency !== seqr.currency) {
      add("payment-differs", payment.ersReference, purchase.sessionId, { seqr, ours });
    }
  }

  for (const refund of input.report.refunds) {
    const seqr = { amountMinor: refund.amountMinor, currency: refund.currency, payment: refund.paymentErsReference };
    const ours = input.refundsByErs.get(refund.ersReference);
    const purchase = input.purchasesByErs.get(refund.paymentErsReference);
    if (!ours) {
      add("refund-unknown-to-bridge", refund.ersReference, purchase?.sessionId ?? null, { seqr });
    } else if (ours.amountMinor !== refund.amountMinor || ours.currency !== refund.currency) {
      add("refund-differs", refund.ersReference, ours.sessionId, {
        seqr,
        ours: { refundId: ours.refundId, amountMinor: ours.amountMinor, currency: ours.currency },
      });
    }
  }

  for (const purchase of input.committedInWindow) {
    const ours = { amountMinor: purchase.committedMinor, currency: purchase.currency, closedAt: purchase.closedAt };
    if (!purchase.ersReference) {
      add("payment-reference-missing", `session:${purchase.sessionId}`, purchase.sessionId, { ours });
    } else if (!input.reportedBySeqr.has(purchase.ersReference)) {
      add("payment-missing-at-seqr", purchase.ersReference, purchase.sessionId, { ours });
    }
  }

  for (const refund of input.refundsInWindow) {
    if (refund.ersReference && !input.reportedBySeqr.has(refund.ersReference)) {
      add("refund-missing-at-seqr", refund.ersReference, refund.sessionId, {
        ours: { refundId: refund.refundId, amountMinor: refund.amountMinor, currency: refund.currency },
      });
    }
  }
  return differences;
}
