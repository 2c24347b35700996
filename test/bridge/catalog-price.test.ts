import { expect, it } from "vitest";
import { describeEachStore, sessionEndedEvent, vendedEvent } from "./helpers/harness.ts";

/**
 * Issue 15, defect 5: the bridge bills at most the registry's catalog price of the selection, whatever price the
 * machine reports. A higher reported price, or a selection the registry does not know, is flagged for reconciliation
 * with both figures; the vend's stored row keeps what the machine reported as evidence.
 */

describeEachStore("billing against the catalog", (start) => {
  it("a vend reported above the catalog price is billed at the catalog price and flagged with both figures", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    await h.fleet.emit("M1", "unlocked", { sessionId, commandId: "x", budgetMinor: 2000, currency: "EUR" });
    // A1 is 1.50 in the registry; the machine says 20.00.
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v1", 2000, "A1"));
    await h.fleet.emit("M1", "session-ended", sessionEndedEvent(sessionId, 1, 2000));
    await h.drainOutbox();
    const done = await h.waitForState(reference, "committed");
    expect(h.seqr.only().committed?.minor).toBe(150);
    expect(done.billedMinor).toBe(150);
    expect(done.reconciliation).toContain("vend-price-above-catalog");
    const [vend] = await h.store.listVends(sessionId);
    expect(vend).toMatchObject({ priceMinor: 150, reportedPriceMinor: 2000 });
    const flag = (await h.store.listAudit(sessionId)).find((e) => e.reason === "reconcile:vend-price-above-catalog");
    expect(flag?.detail).toMatchObject({
      vendId: "v1",
      selection: "A1",
      reportedPriceMinor: 2000,
      catalogPriceMinor: 150,
    });
    // The invoice rows the customer sees show the billed price too.
    expect(h.seqr.only().updates.at(-1)?.total.minor).toBe(150);
  });

  it("a vend of a selection the registry does not know is not billed and is flagged", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    await h.fleet.emit("M1", "unlocked", { sessionId, commandId: "x", budgetMinor: 2000, currency: "EUR" });
    await h.fleet.emit("M1", "vended", { ...vendedEvent(sessionId, "v1", 150, "A1"), selection: "Z9" });
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v2", 200, "A2"));
    await h.fleet.emit("M1", "session-ended", sessionEndedEvent(sessionId, 2, 350));
    await h.drainOutbox();
    const done = await h.waitForState(reference, "committed");
    expect(h.seqr.only().committed?.minor).toBe(200);
    expect(done.reconciliation).toContain("vend-selection-unknown");
    const flag = (await h.store.listAudit(sessionId)).find((e) => e.reason === "reconcile:vend-selection-unknown");
    expect(flag?.detail).toMatchObject({
      vendId: "v1",
      selection: "Z9",
      reportedPriceMinor: 150,
      catalogPriceMinor: null,
    });
  });

  it("a vend reported at or below the catalog price is billed as reported, without a flag", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    await h.vendAndEnd(sessionId, [150, 120]);
    await h.drainOutbox();
    const done = await h.waitForState(reference, "committed");
    expect(h.seqr.only().committed?.minor).toBe(270);
    expect(done.reconciliation).toBeNull();
  });
});
