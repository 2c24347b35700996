import { expect, it } from "vitest";
import { type Catalog, catalogHash } from "../../protocol/catalog.ts";
import { machineStateWith } from "./helpers/fake-fleet.ts";
import { describeEachStore, type Harness, machineKey } from "./helpers/harness.ts";

/**
 * Issue 22, the catalog page: an operator changes a price while a purchase is in flight. The agent refuses a
 * `cmd/config` while a session is open (prices change between sessions), so the machine goes on selling at the price
 * the purchase was reserved with; the bill cap of that purchase is the catalog in force when it was created, not the
 * one saved a moment later. A purchase started after the change is capped by the new price.
 */

const before: Catalog = {
  currency: "EUR",
  products: { A1: { name: "Still water", sku: "WATER-05", priceMinor: 150 } },
};
const priced = (priceMinor: number): Catalog => ({
  currency: "EUR",
  products: { A1: { name: "Still water", sku: "WATER-05", priceMinor } },
});

async function storeMachine(h: Harness): Promise<void> {
  await h.app.registry.add("S1", { name: "Store machine", commandKey: machineKey, catalog: before });
  h.fleet.setOnline("S1");
}

async function reservedOnS1(h: Harness): Promise<{ reference: string; sessionId: string }> {
  const reference = await h.purchase("S1");
  return { reference, sessionId: await h.reserve(reference) };
}

async function vendWater(h: Harness, sessionId: string, priceMinor: number): Promise<void> {
  await h.fleet.emit("S1", "unlocked", { sessionId, commandId: "x", budgetMinor: 2000, currency: "EUR" });
  await h.fleet.emit("S1", "vended", {
    sessionId,
    vendId: "v1",
    selection: "A1",
    sku: "WATER-05",
    name: "Still water",
    priceMinor,
    currency: "EUR",
    evidence: "vend-success",
  });
  await h.fleet.emit("S1", "session-ended", {
    sessionId,
    reason: "customer-done",
    vendedCount: 1,
    vendedTotalMinor: priceMinor,
    unknownCount: 0,
    currency: "EUR",
  });
  await h.drainOutbox();
}

/** A purchase reserved on S1, the price of A1 changed to `newPriceMinor` meanwhile, A1 vended at `reportedMinor`. */
async function changedInFlight(h: Harness, newPriceMinor: number, reportedMinor: number) {
  await storeMachine(h);
  const { reference, sessionId } = await reservedOnS1(h);
  await h.clock.advance(1_000);
  await h.app.registry.setCatalog("S1", priced(newPriceMinor), { operator: "ops", at: h.clock.now() });
  await h.clock.advance(1_000);
  await vendWater(h, sessionId, reportedMinor);
  return h.waitForState(reference, "committed");
}

describeEachStore("a price change racing a purchase in flight", (start) => {
  it("a price lowered during a purchase: that purchase is billed at the price it was reserved with, unflagged", async () => {
    // The agent refused the config (busy) and sells at 1.50 still.
    const done = await changedInFlight(await start(), 120, 150);
    expect(done.billedMinor).toBe(150);
    expect(done.reconciliation).toBeNull();
  });

  it("a price raised during a purchase does not raise that purchase's cap", async () => {
    // A machine that claims the new price for a session reserved under the old one is capped at the old one.
    const done = await changedInFlight(await start(), 300, 300);
    expect(done.billedMinor).toBe(150);
    expect(done.reconciliation).toContain("vend-price-above-catalog");
  });

  it("selection first: a selection held at the old price is not reserved at it once the price is lowered", async () => {
    const h = await start();
    await storeMachine(h);
    // The machine holds A1 at 1.50 for payment; it refuses the new catalog while it holds it.
    h.fleet.setState("S1", {
      ...machineStateWith(catalogHash(before)),
      screen: "pay-for-selection",
      pendingSelection: { selection: "A1", priceMinor: 150, currency: "EUR", expiresAt: h.clock.now() + 60_000 },
    });
    await h.app.registry.setCatalog("S1", priced(120), { operator: "ops", at: h.clock.now() });
    await h.clock.advance(1_000);
    const { reference, sessionId } = await reservedOnS1(h);
    // Not the held 1.50: the customer's offer, as in the ordinary flow; the vend is capped at the new 1.20.
    expect((await h.purchaseFor(reference)).amountMinor).toBe(2000);
    await vendWater(h, sessionId, 150);
    const done = await h.waitForState(reference, "committed");
    expect(done.billedMinor).toBe(120);
    expect(done.reconciliation).toContain("vend-price-above-catalog");
  });

  it("a purchase created after the change is capped by the new price", async () => {
    const h = await start();
    await storeMachine(h);
    await h.app.registry.setCatalog("S1", priced(120), { operator: "ops", at: h.clock.now() });
    await h.clock.advance(1_000);
    const { reference, sessionId } = await reservedOnS1(h);
    // The machine has not applied the new catalog yet and reports the old price.
    await vendWater(h, sessionId, 150);
    const done = await h.waitForState(reference, "committed");
    expect(done.billedMinor).toBe(120);
    expect(done.reconciliation).toContain("vend-price-above-catalog");
  });
});
