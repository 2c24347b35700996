import { expect, it } from "vitest";
import type { PurchaseState, Store } from "../../backend-bridge/store/store.ts";
import { describeEachStore } from "./helpers/harness.ts";

/**
 * createPurchase when something fails after the claim: the machine is never held past the request (a store error
 * included: released at once, or by the stale-claim timer when the store is still failing), UPS hears
 * INVOICING_ERROR, and a slow machine link never delays the answer SEQR's UPS expects within about 5 s.
 */

const body = { token: "M1", amount: 20, currency: "EUR", msisdn: "46701234567" };

/** Makes the store's transitions to the given states throw, once each, as a failing disk or database would. */
function failTransitions(store: Store, failures: PurchaseState[]): void {
  const original = store.transition.bind(store);
  const pending = [...failures];
  store.transition = (sessionId, from, to, changes, audit) => {
    const index = pending.indexOf(to);
    if (index >= 0) {
      pending.splice(index, 1);
      return Promise.reject(new Error("disk I/O error"));
    }
    return original(sessionId, from, to, changes, audit);
  };
}

describeEachStore("createPurchase failures", (start) => {
  it("the invoice reference cannot be stored: INVOICING_ERROR, the invoice is cancelled, the machine is free", async () => {
    const h = await start();
    failTransitions(h.testStore.store, ["invoiced"]);
    expect(await h.createPurchase(body)).toEqual({ status: 200, json: { errorCode: "INVOICING_ERROR" } });
    await h.quiesce();
    const [purchase] = await h.store.listPurchases({ machineId: "M1" });
    expect(purchase?.state).toBe("failed");
    expect(h.seqr.only().status).toBe("CANCELED");
    // The next customer is not told DEVICE_IN_USE.
    const next = await h.createPurchase(body);
    expect(next.json.invoiceReferenceId).toMatch(/^\d+$/);
  });

  it("the store fails again when releasing: the stale-claim timer frees the machine without a restart", async () => {
    const h = await start();
    failTransitions(h.testStore.store, ["invoiced", "failed"]);
    expect(await h.createPurchase(body)).toEqual({ status: 200, json: { errorCode: "INVOICING_ERROR" } });
    expect((await h.createPurchase(body)).json).toEqual({ errorCode: "DEVICE_IN_USE" });
    // seqrCallTimeoutMs (5 s) * 2 + 5 s after the claim.
    await h.clock.advance(15_000);
    const [purchase] = await h.store.listPurchases({ machineId: "M1" });
    expect(purchase?.state).toBe("failed");
    const next = await h.createPurchase(body);
    expect(next.json.invoiceReferenceId).toMatch(/^\d+$/);
  });

  it("answers while the payment-pending command to the machine is still waiting for its PUBACK", async () => {
    const h = await start();
    const fleet = h.fleet;
    const originalSend = fleet.send.bind(fleet);
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    fleet.send = (async (machineId, name, commandBody, options) => {
      if (name === "payment-pending") await held;
      return originalSend(machineId, name, commandBody, options);
    }) as typeof fleet.send;
    try {
      const answer = await Promise.race([
        h.createPurchase(body),
        new Promise<"no answer">((resolve) => setTimeout(() => resolve("no answer"), 2_000)),
      ]);
      expect(answer).toEqual({ status: 200, json: { invoiceReferenceId: expect.stringMatching(/^\d+$/) } });
      expect(fleet.commands("payment-pending")).toHaveLength(0);
    } finally {
      release();
    }
    await h.quiesce();
    expect(fleet.commands("payment-pending")).toHaveLength(1);
  });
});
