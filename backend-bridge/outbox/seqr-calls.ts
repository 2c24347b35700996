import { vendedInvoice } from "../purchase/invoice.ts";
import { paymentReceipt } from "../purchase/receipt.ts";
import { CallTimeoutError } from "../purchase/with-timeout.ts";
import type { SeqrApi } from "../seqr/seqr-api.ts";
import { SeqrError, SeqrResultError } from "../seqr/seqr-errors.ts";
import { purchaseNote } from "../store/audit-entry.ts";
import type { OutboxItem, Purchase, StoreOps, VendRecord } from "../store/store.ts";
import type { OutboxAttempt, OutboxHandler } from "./outbox-worker.ts";

/**
 * What each outbox row does at SEQR, and what its success or final failure does to the purchase.
 * seqr-protocol.md §4, §7, §9: cancelInvoice treats 95 (already cancelled) as done; commitReservation is never
 * repeated blindly after an outcome-unknown failure: getPaymentStatus says whether it went through (PAID).
 */

/** How long a receipt is retried after its commit; it is a courtesy, the payment stands without it. */
const receiptWindowMs = 3_600_000;

const resultCodes = {
  cannotCancelPaid: 50,
  alreadyCancelled: 95,
  notReserved: 96,
  expired: 58,
  invalidReference: 54,
} as const;

export interface SeqrCallContext {
  seqr: SeqrApi;
  /** Where the vends are read from when the invoice rows are built. */
  store: Pick<StoreOps, "listVends">;
  /** The notification URL of a purchase (kept on updateInvoice). */
  notificationUrl(purchase: Purchase): string;
  commitReservationTimeoutSeconds: number;
  /** After a commit, send the customer's receipt (best effort, seqr.submitReceipts). */
  submitReceipts?: boolean;
  /** A purchase reached a final state through the outbox (metrics). */
  onClosed?(outcome: "committed" | "failed"): void;
}

/** Whether SEQR may have acted on a failed call (a timeout, a lost connection, a server fault). */
export function outcomeUnknown(error: unknown): boolean {
  if (error instanceof SeqrError) return error.outcomeUnknown;
  if (error instanceof CallTimeoutError) return true;
  // Anything else (a bug, an unexpected error type) is treated with the same caution.
  return true;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function failure(error: unknown): OutboxAttempt {
  if (error instanceof SeqrResultError && !error.transient) {
    return { result: "retry", error: describe(error), outcomeUnknown: false };
  }
  return { result: "retry", error: describe(error), outcomeUnknown: outcomeUnknown(error) };
}

export function seqrCallHandlers(context: SeqrCallContext): Record<OutboxItem["kind"], OutboxHandler> {
  const { seqr } = context;

  const updateInvoice: OutboxHandler = {
    // The rows are what the customer sees; the money is in the commit, which must not wait for ever behind them.
    maxAttempts: 5,
    successMayBeRedone: true,
    async attempt(_item, purchase) {
      if (!purchase.invoiceReference) return { result: "give-up", error: "no invoice reference" };
      // Rows are read now, not when the row was queued: the latest vends are always what is sent.
      const vends = await storeVends(purchase);
      try {
        await seqr.updateInvoice(
          purchase.invoiceReference,
          vendedInvoice(purchase, vends, {
            notificationUrl: context.notificationUrl(purchase),
            commitReservationTimeoutSeconds: context.commitReservationTimeoutSeconds,
          }),
        );
        return { result: "done" };
      } catch (error) {
        if (error instanceof SeqrResultError && [11, 49, 54].includes(error.resultCode)) {
          return { result: "give-up", error: describe(error) };
        }
        return failure(error);
      }
    },
    async settled(tx, item, purchase, outcome, at) {
      if (outcome.result !== "done") {
        await tx.flagReconciliation(purchase.sessionId, "invoice-rows-not-updated", at, { error: errorOf(outcome) });
      } else {
        await tx.appendAudit(audit(purchase, item, "invoice-updated", at));
      }
    },
  };

  const commitReservation: OutboxHandler = {
    async attempt(item, purchase) {
      const amountMinor = Number(item.payload.amountMinor);
      const currency = String(item.payload.currency);
      if (!purchase.invoiceReference) return { result: "give-up", error: "no invoice reference" };
      if (!Number.isSafeInteger(amountMinor) || amountMinor <= 0 || amountMinor > purchase.amountMinor) {
        // Design §4.3: never commit more than was reserved. Refuse rather than send.
        return {
          result: "give-up",
          error: `refused to commit ${amountMinor} of a ${purchase.amountMinor} reservation`,
        };
      }
      if (item.outcomeUnknown) {
        // The last attempt may have gone through: ask SEQR before repeating it.
        const known = await settledByStatus(purchase);
        if (known) return known;
      }
      try {
        const committed = await seqr.commitReservation(purchase.invoiceReference, { minor: amountMinor, currency });
        return { result: "done", detail: await paidDetail(purchase, committed.ersReference) };
      } catch (error) {
        if (error instanceof SeqrResultError && error.resultCode === resultCodes.notReserved) {
          return (await settledByStatus(purchase)) ?? failure(error);
        }
        if (error instanceof SeqrResultError && !error.transient) {
          // Expired (58), amount rejected (11), invalid data (49), unknown reference (54): repeating will not help.
          return { result: "give-up", error: describe(error) };
        }
        return failure(error);
      }
    },
    async atDeadline(_item, purchase) {
      // Only called when the last attempt's outcome is unknown: SEQR may show PAID, and then the money moved.
      if (!purchase.invoiceReference) return undefined;
      const known = await settledByStatus(purchase);
      return known?.result === "done" ? known : undefined;
    },
    async settled(tx, item, purchase, outcome, at) {
      if (outcome.result === "done") {
        const ersReference = outcome.detail?.ersReference;
        const committed = await tx.transition(
          purchase.sessionId,
          ["committing"],
          "committed",
          {
            committedMinor: Number(item.payload.amountMinor),
            ...(typeof ersReference === "string" ? { ersReference } : {}),
          },
          {
            reason: "reservation-committed",
            detail: { billedMinor: purchase.billedMinor, ...(outcome.detail ?? {}) },
            at,
          },
        );
        if (committed) {
          context.onClosed?.("committed");
          if (context.submitReceipts && typeof ersReference === "string") {
            await tx.enqueueOutbox({
              sessionId: purchase.sessionId,
              kind: "submitPaymentReceipt",
              payload: { ersReference },
              at,
              deadlineAt: at + receiptWindowMs,
            });
          }
        }
        return;
      }
      // Recorded as it happened: how many calls, what was to be billed, that nothing was taken, and why.
      const record = {
        attempts: outcome.result === "give-up" ? (outcome.attempts ?? item.attempts) : item.attempts,
        billedMinor: purchase.billedMinor,
        committedMinor: 0,
        error: errorOf(outcome),
        lastError: item.lastError,
        outcomeUnknown: item.outcomeUnknown,
      };
      const failed = await tx.transition(
        purchase.sessionId,
        ["committing"],
        "failed",
        { committedMinor: 0 },
        { reason: "commit-failed", detail: { ...record, kind: item.kind }, at },
      );
      await tx.flagReconciliation(purchase.sessionId, "commit-failed", at, record);
      if (failed) context.onClosed?.("failed");
    },
  };

  /**
   * After a commit SEQR accepted: getPaymentStatus for PAID and its ersReference, which refunds need (seqr-protocol.md
   * §12.14; commitReservation itself answers none). The commit stands whatever this answers.
   */
  async function paidDetail(purchase: Purchase, fromCommit: string | undefined): Promise<Record<string, unknown>> {
    try {
      const status = await seqr.getPaymentStatus(purchase.invoiceReference ?? "", purchase.statusVersion);
      const ersReference = status.ersReference ?? fromCommit;
      return { paidConfirmed: status.status === "PAID", ...(ersReference ? { ersReference } : {}) };
    } catch (error) {
      return {
        paidConfirmed: false,
        statusError: describe(error),
        ...(fromCommit ? { ersReference: fromCommit } : {}),
      };
    }
  }

  /** getPaymentStatus after an uncertain commit: PAID = it went through; gone = nothing to commit; else unknown. */
  async function settledByStatus(purchase: Purchase): Promise<OutboxAttempt | undefined> {
    const invoiceReference = purchase.invoiceReference ?? "";
    try {
      // §12.9: echo the last version SEQR answered.
      const status = await seqr.getPaymentStatus(invoiceReference, purchase.statusVersion);
      if (status.status === "PAID") {
        return {
          result: "done",
          detail: {
            confirmedBy: "getPaymentStatus",
            ...(status.ersReference ? { ersReference: status.ersReference } : {}),
          },
        };
      }
      if (status.status === "RESERVED") return undefined;
      if (status.status === "CANCELED" || status.status === "EXPIRED" || status.status === "FAILED") {
        return { result: "give-up", error: `reservation is ${status.status}` };
      }
      return { result: "later", error: `status ${status.status}` };
    } catch (error) {
      return { result: "retry", error: `status check before commit: ${describe(error)}`, outcomeUnknown: true };
    }
  }

  const cancelInvoice: OutboxHandler = {
    async attempt(_item, purchase) {
      if (!purchase.invoiceReference) return { result: "done" };
      try {
        await seqr.cancelInvoice(purchase.invoiceReference);
        return { result: "done" };
      } catch (error) {
        if (error instanceof SeqrResultError) {
          if (error.resultCode === resultCodes.alreadyCancelled) return { result: "done", detail: { already: true } };
          if (error.resultCode === resultCodes.cannotCancelPaid || error.resultCode === resultCodes.invalidReference) {
            return { result: "give-up", error: describe(error) };
          }
        }
        return failure(error);
      }
    },
    async settled(tx, item, purchase, outcome, at) {
      if (outcome.result === "done") {
        await tx.appendAudit(audit(purchase, item, "invoice-cancelled", at));
        return;
      }
      await tx.flagReconciliation(purchase.sessionId, "cancel-failed", at, { error: errorOf(outcome) });
    },
  };

  function storeVends(purchase: Purchase): Promise<VendRecord[]> {
    return context.store.listVends(purchase.sessionId);
  }

  return { updateInvoice, commitReservation, cancelInvoice, submitPaymentReceipt: receiptHandler(context) };
}

/**
 * The customer's receipt after a commit (seqr-protocol.md §7 submitPaymentReceipt). Best effort: a bounded number of
 * attempts, and a failure is only written to the audit log; it never touches the purchase or its billing. SEQR accepts
 * a receipt again (repeatable per type), so a retry after a lost answer is harmless.
 */
function receiptHandler(context: SeqrCallContext): OutboxHandler {
  return {
    maxAttempts: 5,
    // Sent again after a power cut took its record: harmless (above), and no money hangs on it.
    successMayBeRedone: true,
    async attempt(item, purchase) {
      const ersReference = String(item.payload.ersReference ?? "");
      if (!ersReference) return { result: "give-up", error: "no payment reference" };
      try {
        const vends = await context.store.listVends(purchase.sessionId);
        await context.seqr.submitPaymentReceipt(ersReference, paymentReceipt(purchase, vends, ersReference));
        return { result: "done" };
      } catch (error) {
        if (error instanceof SeqrResultError && !error.transient) return { result: "give-up", error: describe(error) };
        return { result: "retry", error: describe(error), outcomeUnknown: false };
      }
    },
    async settled(tx, item, purchase, outcome, at) {
      const reason = outcome.result === "done" ? "receipt-submitted" : "receipt-not-submitted";
      const detail = {
        outboxId: item.id,
        attempts: item.attempts + 1,
        ...(outcome.result === "done" ? {} : { error: errorOf(outcome) }),
      };
      await tx.appendAudit(purchaseNote(purchase, reason, at, detail));
    },
  };
}

function errorOf(outcome: OutboxAttempt): string {
  return "error" in outcome ? outcome.error : "";
}

function audit(purchase: Purchase, item: OutboxItem, reason: string, at: number) {
  return purchaseNote(purchase, reason, at, { outboxId: item.id, attempts: item.attempts + 1 });
}
