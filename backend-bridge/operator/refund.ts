import { randomBytes } from "node:crypto";
import type { Clock } from "../../platform/clock.ts";
import { explainSeqrResult } from "../seqr/result-explanations.ts";
import type { Invoice, SeqrApi } from "../seqr/seqr-api.ts";
import { SeqrError, SeqrResultError } from "../seqr/seqr-errors.ts";
import { purchaseNote } from "../store/audit-entry.ts";
import type { Purchase, RefundRecord, RefundStatus, Store, StoreOps } from "../store/store.ts";
import { decideRefund } from "./refund-decision.ts";

/**
 * An operator's refund of a committed purchase (SEQR refundPayment with the purchase's ersReference). The refund is
 * written as `pending` with who asked before SEQR is called (design §4.4), so a request repeated with the same refund
 * id is answered from the store and never sent twice; SEQR's answer is then recorded on the refund and in the audit
 * log. A SEQR refusal is an outcome explained in words, never an exception; an answer that never came leaves the
 * refund `unknown` and the purchase flagged for reconciliation.
 */

export interface RefundRequest {
  sessionId: string;
  /** Idempotency key: a script that retries passes the same id. A fresh one when absent. */
  refundId?: string;
  /** Integer minor units; the whole refundable amount when absent. */
  amountMinor?: number;
  actor: string;
  note?: string;
}

export type RefundOutcome =
  | { outcome: "not-found"; sessionId: string }
  | { outcome: "refused"; reason: string; refundableMinor: number }
  /** `repeated`: the refund id was known; nothing was sent this time. */
  | { outcome: RefundStatus; refund: RefundRecord; explanation: string; repeated: boolean };

export interface RefundDependencies {
  store: Store;
  seqr: Pick<SeqrApi, "refundPayment">;
  clock: Clock;
}

const refundIdPattern = /^[A-Za-z0-9._-]{1,40}$/;

export function isRefundId(value: string): boolean {
  return refundIdPattern.test(value);
}

export function newRefundId(): string {
  return `R-${randomBytes(8).toString("hex")}`;
}

export async function refundPurchase(deps: RefundDependencies, request: RefundRequest): Promise<RefundOutcome> {
  const refundId = request.refundId ?? newRefundId();
  if (!isRefundId(refundId)) {
    return {
      outcome: "refused",
      reason: `"${refundId}" is not a refund id (1-40 of A-Z a-z 0-9 . _ -)`,
      refundableMinor: 0,
    };
  }
  const started = await deps.store.transaction((tx) => begin(tx, deps.clock.now(), { ...request, refundId }));
  if (started.kind === "answered") return started.outcome;
  const { purchase, refund } = started;

  let settled: {
    status: RefundStatus;
    ersReference?: string;
    resultCode?: number;
    error?: string;
    explanation: string;
  };
  try {
    const answer = await deps.seqr.refundPayment(purchase.ersReference ?? "", refundInvoice(purchase, refund));
    settled = {
      status: "refunded",
      ersReference: answer.ersReference,
      resultCode: 0,
      explanation: explainSeqrResult(0),
    };
  } catch (error) {
    settled = failure(error);
  }

  const at = deps.clock.now();
  const changes = {
    status: settled.status,
    ...(settled.ersReference ? { ersReference: settled.ersReference } : {}),
    ...(settled.resultCode !== undefined ? { resultCode: settled.resultCode } : {}),
    ...(settled.error ? { error: settled.error.slice(0, 500) } : {}),
  };
  await deps.store.transaction(async (tx) => {
    await tx.updateRefund(refund.refundId, changes, at);
    await tx.appendAudit(
      purchaseNote(purchase, `refund-${settled.status === "unknown" ? "outcome-unknown" : settled.status}`, at, {
        ...refundDetail(refund),
        seqr: { ...changes, explanation: settled.explanation },
      }),
    );
    if (settled.status === "unknown") {
      await tx.flagReconciliation(purchase.sessionId, "refund-outcome-unknown", at, { refundId: refund.refundId });
    }
  });
  return {
    outcome: settled.status,
    refund: { ...refund, ...changes, updatedAt: at },
    explanation: settled.explanation,
    repeated: false,
  };
}

type Started =
  | { kind: "answered"; outcome: RefundOutcome }
  | { kind: "send"; purchase: Purchase; refund: RefundRecord };

/** In one transaction: the purchase held, a known refund id answered, else the decision and the pending refund. */
async function begin(tx: StoreOps, at: number, request: RefundRequest & { refundId: string }): Promise<Started> {
  const purchase = await tx.lockPurchase(request.sessionId);
  if (!purchase) return { kind: "answered", outcome: { outcome: "not-found", sessionId: request.sessionId } };
  const known = await tx.getRefund(request.refundId);
  if (known) {
    if (known.sessionId !== purchase.sessionId) {
      const reason = `refund id ${known.refundId} belongs to another purchase`;
      return { kind: "answered", outcome: { outcome: "refused", reason, refundableMinor: 0 } };
    }
    const explanation = known.resultCode === null ? "already requested" : explainSeqrResult(known.resultCode);
    return { kind: "answered", outcome: { outcome: known.status, refund: known, explanation, repeated: true } };
  }
  const decision = decideRefund(purchase, await tx.listRefunds(purchase.sessionId), request.amountMinor);
  if (!decision.send) {
    await tx.appendAudit(
      purchaseNote(purchase, "refund-refused", at, {
        refundId: request.refundId,
        actor: request.actor,
        requestedMinor: request.amountMinor ?? null,
        reason: decision.reason,
      }),
    );
    return {
      kind: "answered",
      outcome: { outcome: "refused", reason: decision.reason, refundableMinor: decision.refundableMinor },
    };
  }
  const refund: RefundRecord = {
    refundId: request.refundId,
    sessionId: purchase.sessionId,
    amountMinor: decision.amountMinor,
    currency: purchase.currency,
    status: "pending",
    actor: request.actor,
    note: request.note ?? null,
    ersReference: null,
    resultCode: null,
    error: null,
    createdAt: at,
    updatedAt: at,
  };
  await tx.insertRefund(refund);
  await tx.appendAudit(purchaseNote(purchase, "refund-requested", at, refundDetail(refund)));
  return { kind: "send", purchase, refund };
}

/** SEQR refused (nothing was refunded), or may have acted without our hearing (unknown). */
function failure(error: unknown) {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof SeqrResultError) {
    return {
      status: "failed" as const,
      resultCode: error.resultCode,
      error: message,
      explanation: explainSeqrResult(error.resultCode),
    };
  }
  if (error instanceof SeqrError && !error.outcomeUnknown) {
    return { status: "failed" as const, error: message, explanation: `SEQR did not take the request: ${message}` };
  }
  return {
    status: "unknown" as const,
    error: message,
    explanation:
      "no answer from SEQR: the refund may have gone through; it counts as refunded until the period close or SEQR's portal says otherwise",
  };
}

/** seqr-protocol.md §7: title, cashierId and totalAmount = the refund; one row saying what it is. */
function refundInvoice(purchase: Purchase, refund: RefundRecord): Invoice {
  const total = { minor: refund.amountMinor, currency: refund.currency };
  return {
    title: `Refund ${purchase.machineId}`,
    clientInvoiceId: refund.refundId,
    cashierId: purchase.machineId,
    rows: [{ description: `Refund of purchase ${purchase.sessionId}`, quantity: 1, total }],
    total,
  };
}

function refundDetail(refund: RefundRecord): Record<string, unknown> {
  return {
    refundId: refund.refundId,
    amountMinor: refund.amountMinor,
    currency: refund.currency,
    actor: refund.actor,
    ...(refund.note ? { note: refund.note } : {}),
  };
}
