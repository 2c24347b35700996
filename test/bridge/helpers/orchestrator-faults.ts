import { expect } from "vitest";
import type { PurchaseState, Store } from "../../../backend-bridge/store/store.ts";
import { eventually } from "../../helpers/eventually.ts";
import type { Harness } from "./harness.ts";

/** Makes the store's transitions to any of `states` throw (a failing disk or database) until the returned restore. */
export function failTransitionsTo(store: Store, states: PurchaseState[]): () => void {
  const { transition } = store;
  store.transition = (sessionId, from, to, changes, audit) =>
    states.includes(to)
      ? Promise.reject(new Error("disk I/O error"))
      : transition.call(store, sessionId, from, to, changes, audit);
  return () => {
    store.transition = transition;
  };
}

/**
 * createPurchase whose sendInvoice answers just as the createPurchase deadline passes (the bridge paused meanwhile):
 * resolves with the JSON answered. `sendInvoiceCalls` is how many sendInvoice calls SEQR has seen once this one is made.
 */
export async function sendInvoiceAnsweredAtDeadline(
  h: Harness,
  body: Record<string, unknown>,
  sendInvoiceCalls = 1,
): Promise<Record<string, unknown>> {
  const release = h.seqr.hold("sendInvoice");
  const pending = h.createPurchase(body);
  await eventually(() => expect(h.seqr.count("sendInvoice")).toBe(sendInvoiceCalls));
  h.clock.jump(h.config.timeouts.createPurchaseMs);
  release();
  return (await pending).json;
}
