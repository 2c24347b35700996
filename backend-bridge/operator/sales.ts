import type { AuditEntry, Purchase, Store, VendRecord } from "../store/store.ts";
import type { Period } from "./period.ts";

/**
 * What the bridge sold: committed purchases and the vends they billed. This is the one definition the sales report and
 * the DEX export share, so that the two agree with each other and with the store:
 * - a purchase counts when it is `committed` (SEQR took the money); cancelled and failed ones sold nothing;
 * - its billed value is what the commit took (committedMinor), its reservation what the customer offered;
 * - its paid vends are its `vended` vends, less any the machine reported after billing had closed (flagged
 *   `vended-after-close`: stored as evidence, never charged). Failed and unknown outcomes are never paid.
 * - a purchase and all of its vends fall on the time the purchase began (createdAt), the same instant the purchase
 *   list filters on.
 */

export interface PaidVend {
  selection: string;
  sku: string | null;
  name: string | null;
  priceMinor: number;
}

export interface Sale {
  sessionId: string;
  machineId: string;
  currency: string;
  at: number;
  reservedMinor: number;
  billedMinor: number;
  vends: PaidVend[];
}

export const afterCloseFlag = "vended-after-close";

/** The vend ids the audit log names as reported after billing closed. */
export function vendIdsAfterClose(audit: readonly AuditEntry[]): Set<string> {
  const ids = new Set<string>();
  for (const entry of audit) {
    const vendId = entry.detail?.vendId;
    if (entry.reason === `reconcile:${afterCloseFlag}` && typeof vendId === "string") ids.add(vendId);
  }
  return ids;
}

/** Pure: a committed purchase and its stored vends -> the sale. */
export function saleOf(purchase: Purchase, vends: readonly VendRecord[], afterClose: ReadonlySet<string>): Sale {
  return {
    sessionId: purchase.sessionId,
    machineId: purchase.machineId,
    currency: purchase.currency,
    at: purchase.createdAt,
    reservedMinor: purchase.amountMinor,
    billedMinor: purchase.committedMinor ?? purchase.billedMinor ?? 0,
    vends: vends
      .filter((vend) => vend.outcome === "vended" && !afterClose.has(vend.vendId))
      .map((vend) => ({ selection: vend.selection, sku: vend.sku, name: vend.name, priceMinor: vend.priceMinor })),
  };
}

/** The sales of a period (all machines, or one), oldest first. */
export async function loadSales(store: Store, options: Period & { machineId?: string }): Promise<Sale[]> {
  const purchases = await store.queryPurchases({
    states: ["committed"],
    ...(options.machineId !== undefined ? { machineId: options.machineId } : {}),
    ...(options.from !== undefined ? { from: options.from } : {}),
    ...(options.to !== undefined ? { to: options.to } : {}),
  });
  purchases.reverse();
  const vends = await store.listVendsOf(purchases.map((purchase) => purchase.sessionId));
  const bySession = new Map<string, VendRecord[]>();
  for (const vend of vends) {
    const list = bySession.get(vend.sessionId) ?? [];
    list.push(vend);
    bySession.set(vend.sessionId, list);
  }
  const sales: Sale[] = [];
  for (const purchase of purchases) {
    // Only a purchase flagged for a late vend needs its audit log read.
    const afterClose = (purchase.reconciliation ?? "").split(",").includes(afterCloseFlag)
      ? vendIdsAfterClose(await store.listAudit(purchase.sessionId))
      : new Set<string>();
    sales.push(saleOf(purchase, bySession.get(purchase.sessionId) ?? [], afterClose));
  }
  return sales;
}
