import type { Purchase, RefundRecord } from "../store/store.ts";

/**
 * Whether a refund may be sent, and of how much (design §4.1: integer minor units). Only a committed purchase with
 * SEQR's payment reference can be refunded, and never more than was committed minus every refund that went through
 * or may have (pending, unknown): a refund whose answer was lost is counted until it is known not to have happened.
 */

export type RefundDecision =
  | { send: true; amountMinor: number; refundableMinor: number }
  | { send: false; reason: string; refundableMinor: number };

/** Refunds that took, or may have taken, money back. */
export function refundedMinor(refunds: readonly RefundRecord[]): number {
  return refunds.filter((refund) => refund.status !== "failed").reduce((sum, refund) => sum + refund.amountMinor, 0);
}

export function decideRefund(
  purchase: Purchase,
  refunds: readonly RefundRecord[],
  requestedMinor: number | undefined,
): RefundDecision {
  const committed = purchase.state === "committed" ? (purchase.committedMinor ?? purchase.billedMinor ?? 0) : 0;
  const refundableMinor = Math.max(0, committed - refundedMinor(refunds));
  const refuse = (reason: string): RefundDecision => ({ send: false, reason, refundableMinor });
  if (purchase.state !== "committed")
    return refuse(`the purchase is ${purchase.state}: only a committed one is refunded`);
  if (!purchase.ersReference) {
    return refuse("the purchase has no SEQR payment reference (ersReference): refund it from SEQR's merchant portal");
  }
  if (refundableMinor === 0) return refuse(`nothing is left to refund: ${committed} committed, all refunded`);
  if (requestedMinor === undefined) return { send: true, amountMinor: refundableMinor, refundableMinor };
  if (!Number.isSafeInteger(requestedMinor) || requestedMinor <= 0) {
    return refuse(`the amount ${requestedMinor} is not a positive whole number of minor units`);
  }
  if (requestedMinor > refundableMinor) {
    return refuse(`the amount ${requestedMinor} exceeds what is left to refund (${refundableMinor} minor units)`);
  }
  return { send: true, amountMinor: requestedMinor, refundableMinor };
}
