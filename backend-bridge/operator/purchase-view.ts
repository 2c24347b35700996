import { maskMsisdn } from "../../platform/redact.ts";
import type { Purchase } from "../store/store.ts";

/**
 * A purchase as the operator sees it: everything the console and the CLI show, without the per-session notification
 * secret (whoever has it can make the bridge act on the purchase) and with the phone number always masked (a running
 * session still holds it in clear).
 */
export interface PurchaseView {
  sessionId: string;
  machineId: string;
  state: Purchase["state"];
  currency: string;
  reservedMinor: number;
  billedMinor: number | null;
  committedMinor: number | null;
  invoiceReference: string | null;
  ersReference: string | null;
  msisdn: string | null;
  vendedCount: number | null;
  unknownCount: number | null;
  endReason: string | null;
  /** The reasons a person must look at it, split from the stored comma list; empty when clean. */
  flags: string[];
  createdAt: number;
  closedAt: number | null;
}

export function purchaseView(purchase: Purchase): PurchaseView {
  return {
    sessionId: purchase.sessionId,
    machineId: purchase.machineId,
    state: purchase.state,
    currency: purchase.currency,
    reservedMinor: purchase.amountMinor,
    billedMinor: purchase.billedMinor,
    committedMinor: purchase.committedMinor,
    invoiceReference: purchase.invoiceReference,
    ersReference: purchase.ersReference,
    msisdn: shownMsisdn(purchase.msisdn),
    vendedCount: purchase.endedVendedCount,
    unknownCount: purchase.endedUnknownCount,
    endReason: purchase.endReason,
    flags: (purchase.reconciliation ?? "").split(",").filter(Boolean),
    createdAt: purchase.createdAt,
    closedAt: purchase.closedAt,
  };
}

/** Masked once: a number the bridge masked at the session's end stays as it is (masking it again would hide all). */
function shownMsisdn(msisdn: string | null): string | null {
  if (msisdn === null) return null;
  return /^[0-9]+$/.test(msisdn) ? maskMsisdn(msisdn) : msisdn;
}
