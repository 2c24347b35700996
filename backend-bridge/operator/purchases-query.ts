import type { OutboxItem, PurchaseQuery, Store, VendRecord } from "../store/store.ts";
import { type PurchaseView, purchaseView } from "./purchase-view.ts";

/**
 * The operator's read side of purchases: the filtered list and one purchase's timeline. Plain functions over the
 * Store returning plain data, for the CLI now and the web console later.
 */

export const defaultPurchaseLimit = 100;
export const maxPurchaseLimit = 10_000;

export async function listPurchases(store: Store, query: PurchaseQuery): Promise<PurchaseView[]> {
  const purchases = await store.queryPurchases({ ...query, limit: query.limit ?? defaultPurchaseLimit });
  return purchases.map(purchaseView);
}

/** One line of a purchase's history: a state change or note from the audit log, or a vend the machine reported. */
export type TimelineEntry =
  | {
      at: number;
      kind: "audit";
      reason: string;
      fromState: string | null;
      toState: string | null;
      detail: Record<string, unknown> | null;
    }
  | {
      at: number;
      kind: "vend";
      vendId: string;
      selection: string;
      sku: string | null;
      name: string | null;
      outcome: VendRecord["outcome"];
      priceMinor: number;
      reportedPriceMinor: number | null;
      evidence: string | null;
    };

/** An outbox row (a SEQR call that must happen): its state, not its payload (which repeats the invoice). */
export interface OutboxView {
  kind: OutboxItem["kind"];
  status: OutboxItem["status"];
  attempts: number;
  nextAttemptAt: number;
  deadlineAt: number;
  lastError: string | null;
  outcomeUnknown: boolean;
}

export interface PurchaseTimeline {
  purchase: PurchaseView;
  /** In time order; at equal times the audit entry first (it records the decision the vend was part of). */
  timeline: TimelineEntry[];
  outbox: OutboxView[];
}

/** The purchase named by its session id or SEQR invoice reference, with its history; undefined when neither is known. */
export async function purchaseTimeline(store: Store, key: string): Promise<PurchaseTimeline | undefined> {
  const purchase = (await store.getPurchase(key)) ?? (await store.findPurchaseByInvoiceReference(key));
  if (!purchase) return undefined;
  const [audit, vends, outbox] = await Promise.all([
    store.listAudit(purchase.sessionId),
    store.listVends(purchase.sessionId),
    store.listOutbox(purchase.sessionId),
  ]);
  return {
    purchase: purchaseView(purchase),
    timeline: mergeTimeline(
      audit.map((entry) => ({
        at: entry.at,
        kind: "audit" as const,
        reason: entry.reason,
        fromState: entry.fromState,
        toState: entry.toState,
        detail: entry.detail ?? null,
      })),
      vends.map((vend) => ({
        at: vend.at,
        kind: "vend" as const,
        vendId: vend.vendId,
        selection: vend.selection,
        sku: vend.sku,
        name: vend.name,
        outcome: vend.outcome,
        priceMinor: vend.priceMinor,
        reportedPriceMinor: vend.reportedPriceMinor ?? null,
        evidence: vend.evidence,
      })),
    ),
    outbox: outbox.map((item) => ({
      kind: item.kind,
      status: item.status,
      attempts: item.attempts,
      nextAttemptAt: item.nextAttemptAt,
      deadlineAt: item.deadlineAt,
      lastError: item.lastError,
      outcomeUnknown: item.outcomeUnknown,
    })),
  };
}

/** Both lists are in time order already; a stable merge keeps each list's own order at equal times. */
export function mergeTimeline(audit: TimelineEntry[], vends: TimelineEntry[]): TimelineEntry[] {
  const merged: TimelineEntry[] = [];
  let a = 0;
  let v = 0;
  while (a < audit.length || v < vends.length) {
    const nextAudit = audit[a];
    const nextVend = vends[v];
    if (nextAudit && (!nextVend || nextAudit.at <= nextVend.at)) {
      merged.push(nextAudit);
      a++;
    } else if (nextVend) {
      merged.push(nextVend);
      v++;
    }
  }
  return merged;
}
