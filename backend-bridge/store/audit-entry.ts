import type { AuditEntry, Purchase } from "./store.ts";

/** An audit entry about `purchase` that leaves its state as it is (a SEQR call's result, an operator's action). */
export function purchaseNote(
  purchase: Purchase,
  reason: string,
  at: number,
  detail?: Record<string, unknown>,
): AuditEntry {
  return {
    sessionId: purchase.sessionId,
    machineId: purchase.machineId,
    fromState: purchase.state,
    toState: purchase.state,
    reason,
    ...(detail ? { detail } : {}),
    at,
  };
}
