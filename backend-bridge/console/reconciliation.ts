import { type PurchaseView, purchaseView } from "../operator/purchase-view.ts";
import type { AuditEntry, Store } from "../store/store.ts";

/** The audit reason of an operator's "mark resolved with a note". */
export const resolvedReason = "reconcile:resolved";

/** A note longer than this is refused: it is evidence, not a document store. */
export const maxNoteLength = 2_000;

export interface Resolution {
  operator: string;
  note: string;
  at: number;
}

/**
 * Whether the purchase's current flags were resolved: the latest resolution names exactly these flags. A flag
 * raised after the resolution (a vend reported later, a failed refund) changes the set and reopens the item.
 */
export function resolutionOf(audit: readonly AuditEntry[], flags: readonly string[]): Resolution | undefined {
  const latest = audit.findLast((entry) => entry.reason === resolvedReason);
  const detail = latest?.detail ?? {};
  if (latest === undefined || detail.flags !== flags.join(",")) return undefined;
  return { operator: String(detail.operator), note: String(detail.note), at: latest.at };
}

export interface QueueItem {
  purchase: PurchaseView;
  /** The audit entries that flagged it, with their detail: the evidence. */
  evidence: AuditEntry[];
}

/** Every flagged purchase not resolved since its last flag, newest first. */
export async function reconciliationQueue(store: Store, limit = 500): Promise<QueueItem[]> {
  const flagged = await store.queryPurchases({ flagged: true, limit });
  const items: QueueItem[] = [];
  for (const purchase of flagged) {
    const view = purchaseView(purchase);
    const audit = await store.listAudit(purchase.sessionId);
    if (resolutionOf(audit, view.flags)) continue;
    const evidence = audit.filter((entry) => entry.reason.startsWith("reconcile:"));
    items.push({ purchase: view, evidence });
  }
  return items;
}

export class ResolveError extends Error {}

/** Writes the operator's resolution of the purchase's current flags to its audit log. */
export async function resolveReconciliation(
  store: Store,
  input: { sessionId: string; operator: string; note: string; at: number },
): Promise<void> {
  const note = input.note.trim();
  if (note === "") throw new ResolveError("a resolution needs a note saying what was done");
  if (note.length > maxNoteLength) throw new ResolveError(`the note is longer than ${maxNoteLength} characters`);
  const purchase = await store.getPurchase(input.sessionId);
  if (!purchase) throw new ResolveError("no such purchase");
  const flags = purchaseView(purchase).flags;
  if (flags.length === 0) throw new ResolveError("the purchase is not flagged");
  await store.appendAudit({
    sessionId: purchase.sessionId,
    machineId: purchase.machineId,
    fromState: purchase.state,
    toState: purchase.state,
    reason: resolvedReason,
    detail: { operator: input.operator, note, flags: flags.join(",") },
    at: input.at,
  });
}
