import { SeqrError, SeqrTransportError } from "../seqr/seqr-errors.ts";
import { CallTimeoutError } from "./with-timeout.ts";

/** The reconciliation flag of a purchase for which SEQR may hold an invoice whose reference the bridge never learned. */
export const invoiceReferenceUnknown = "invoice-reference-unknown";

/** Connection errors raised before a byte of the request could reach SEQR. */
const nothingSentCodes = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);

/**
 * Whether a failed sendInvoice may still have created an invoice at SEQR: its answer is late (the bridge's own
 * deadline passed) or lost (timeout, reset, a 5xx or an unreadable answer after SEQR acted). SEQR has no lookup by
 * our clientInvoiceId, so if no late answer names it, only a person with SEQR's report can find that invoice: it holds
 * no money (nobody was shown it), but it must not go unnoticed. A result code SEQR answered, a client fault and a
 * connection that never opened are definite: nothing was created.
 */
export function sendInvoiceMayHaveActed(error: unknown): boolean {
  if (error instanceof CallTimeoutError) return true;
  if (!(error instanceof SeqrError) || !error.outcomeUnknown) return false;
  if (error instanceof SeqrTransportError) {
    const code = (error.cause as { code?: unknown } | undefined)?.code;
    return !(typeof code === "string" && nothingSentCodes.has(code));
  }
  return true;
}
