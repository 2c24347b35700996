import { positiveAmountSchema } from "../../platform/amount-input.ts";

/**
 * A refund amount as an operator types it, in major units ("0.50"), turned into integer minor units of the purchase's
 * currency (design §4.1). The CLI's --amount and the console's form both read it here, so both refuse the same
 * things in the same words: not a plain positive decimal, more decimals than the currency has, zero.
 */
export function refundAmountSchema(currency: string) {
  return positiveAmountSchema(currency, "a refund of nothing: the amount must be above 0");
}

/** The amount in minor units, or the reason it is not one. */
export function parseRefundAmount(
  text: string,
  currency: string,
): { ok: true; amountMinor: number } | { ok: false; reason: string } {
  const parsed = refundAmountSchema(currency).safeParse(text);
  if (parsed.success) return { ok: true, amountMinor: parsed.data };
  return { ok: false, reason: parsed.error.issues.map((issue) => issue.message).join("; ") };
}
