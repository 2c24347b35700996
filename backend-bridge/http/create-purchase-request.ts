import { z } from "zod";
import { tokenId } from "../../config/field.ts";
import { normaliseMsisdn } from "../purchase/msisdn.ts";
import type { PurchaseRequest } from "../purchase/orchestrator.ts";

/**
 * The createPurchase body in every spelling SEQR has published (seqr-protocol.md §3): the seed's
 * `{token, amount: 20.00, currency, msisdn}`, UPS-17/18's `{reservationToken, reservationAmount: "20.00"}` and the
 * prose's `purchaseToken`. Unknown extra fields are ignored (SEQR may add some); wrong types are refused.
 */
const amountValue = z.union([z.number(), z.string().max(32)]);
const tokenValue = z.string().max(128);

const body = z.looseObject({
  token: tokenValue.optional(),
  reservationToken: tokenValue.optional(),
  purchaseToken: tokenValue.optional(),
  amount: amountValue.optional(),
  reservationAmount: amountValue.optional(),
  currency: z.string().regex(/^[A-Z]{3}$/, "must be an ISO 4217 code such as EUR"),
  // Optional personal data, validated loosely: a malformed one is dropped, never a reason to refuse (issue 15).
  msisdn: z.unknown().optional(),
});

export type ParsedCreatePurchase = { ok: true; request: PurchaseRequest } | { ok: false; error: string };

export function parseCreatePurchase(json: unknown): ParsedCreatePurchase {
  const parsed = body.safeParse(json);
  if (!parsed.success) {
    return {
      ok: false,
      error: parsed.error.issues.map((issue) => `${issue.path.join(".") || "(body)"}: ${issue.message}`).join("; "),
    };
  }
  const value = parsed.data;
  // Several spellings of one field must agree: which of two different machines (or amounts) was meant is not ours
  // to guess, so the request is refused before anything is claimed or invoiced.
  const tokens = [value.token, value.reservationToken, value.purchaseToken].filter((given) => given !== undefined);
  if (new Set(tokens).size > 1) {
    return { ok: false, error: "token: token, reservationToken and purchaseToken name different machines" };
  }
  const amounts = [value.amount, value.reservationAmount].filter((given) => given !== undefined).map(String);
  if (new Set(amounts).size > 1) return { ok: false, error: "amount: amount and reservationAmount differ" };
  const token = tokens[0];
  if (token === undefined) return { ok: false, error: "token: required (token, reservationToken or purchaseToken)" };
  if (!tokenId.safeParse(token).success) return { ok: false, error: "token: not a machine token" };
  const amount = value.amount ?? value.reservationAmount;
  if (amount === undefined) return { ok: false, error: "amount: required (amount or reservationAmount)" };
  const msisdn = normaliseMsisdn(value.msisdn);
  return { ok: true, request: { token, amount, currency: value.currency, msisdn } };
}
