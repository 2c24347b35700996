import { reconciliationQueue } from "../console/reconciliation.ts";
import type { Store, VendRecord } from "../store/store.ts";
import type { JammedSlot, OpenReconciliation } from "./alarm-rules.ts";

/** How many of a machine's latest purchases are searched for jams: a slot jammed longer ago has been vended since. */
const recentPurchases = 100;

/**
 * The slots whose latest vend jammed. The bridge learns of a jam from the agent's `vend-failed` (outcome jammed,
 * evidence `jam`, stored with the vend); nothing in the contract says a slot was cleared, so a slot counts as jammed
 * until a later vend of that selection is reported (the operator fixed it and someone bought from it).
 */
export function jammedSlotsOf(machineId: string, vends: readonly VendRecord[]): JammedSlot[] {
  const latest = new Map<string, VendRecord>();
  for (const vend of vends) {
    const known = latest.get(vend.selection);
    if (known === undefined || vend.at >= known.at) latest.set(vend.selection, vend);
  }
  return [...latest.values()]
    .filter((vend) => vend.evidence === "jam")
    .map((vend) => ({ machineId, selection: vend.selection, since: vend.at }));
}

export async function jammedSlots(store: Store, machineIds: readonly string[]): Promise<JammedSlot[]> {
  const slots: JammedSlot[] = [];
  for (const machineId of machineIds) {
    const purchases = await store.queryPurchases({ machineId, limit: recentPurchases });
    if (purchases.length === 0) continue;
    slots.push(...jammedSlotsOf(machineId, await store.listVendsOf(purchases.map((purchase) => purchase.sessionId))));
  }
  return slots;
}

/** The reconciliation queue (flagged purchases not resolved since their last flag), with the time of that flag. */
export async function openReconciliation(store: Store): Promise<OpenReconciliation[]> {
  return (await reconciliationQueue(store)).map((item) => ({
    sessionId: item.purchase.sessionId,
    machineId: item.purchase.machineId,
    flaggedAt: Math.max(item.purchase.createdAt, ...item.evidence.map((entry) => entry.at)),
    flags: item.purchase.flags,
  }));
}
