import { afterEach, describe, expect, it } from "vitest";
import { Harness } from "./helpers/harness.ts";
import { storeKinds } from "./helpers/test-stores.ts";

/** A SEQR failure injected at each step of the purchase; money must still end up right. */

async function vendAndEnd(h: Harness, sessionId: string, prices: number[]): Promise<void> {
  await h.fleet.emit("M1", "unlocked", { sessionId, commandId: "x", budgetMinor: 2000, currency: "EUR" });
  for (const [index, priceMinor] of prices.entries()) {
    await h.fleet.emit("M1", "vended", {
      sessionId,
      vendId: `v${index}`,
      selection: "A1",
      sku: "WATER-05",
      name: "Still water",
      priceMinor,
      currency: "EUR",
      evidence: "vend-success",
    });
  }
  const total = prices.reduce((a, b) => a + b, 0);
  await h.fleet.emit("M1", "session-ended", {
    sessionId,
    reason: "customer-done",
    vendedCount: prices.length,
    vendedTotalMinor: total,
    unknownCount: 0,
    currency: "EUR",
  });
}

describe.each(storeKinds)("SEQR failures on %s", (kind) => {
  let h: Harness;
  afterEach(async () => {
    await h?.close();
  });

  it("getPaymentStatus failing after the notification is retried inside the window", async () => {
    h = await Harness.start(kind);
    const reference = await h.purchase();
    h.seqr.confirm(reference);
    h.seqr.fail("getPaymentStatus", "transport", { times: 2 });
    await h.notify(reference);
    expect((await h.purchaseFor(reference)).state).toBe("invoiced");
    await h.clock.advance(250);
    await h.clock.advance(500);
    await h.waitForState(reference, "reserved");
    expect(h.seqr.count("getPaymentStatus")).toBe(3);
  });

  it("updateInvoice failing transiently is retried with backoff; the commit waits for the final rows", async () => {
    h = await Harness.start(kind);
    const reference = await h.purchase();
    const sessionId = await h.reserve(reference);
    h.seqr.fail("updateInvoice", 93, { times: 2 });
    await vendAndEnd(h, sessionId, [150, 150]);
    await h.drainOutbox();
    await h.clock.advance(1_000);
    await h.clock.advance(2_000);
    await h.drainOutbox();
    await h.waitForState(reference, "committed");
    expect(h.seqr.count("updateInvoice")).toBeGreaterThanOrEqual(3);
    expect(h.seqr.only().updates.at(-1)?.total.minor).toBe(300);
    const order = h.seqr.calls.map((call) => call.operation);
    expect(order.lastIndexOf("updateInvoice")).toBeLessThan(order.indexOf("commitReservation"));
    expect(h.seqr.only().committed?.minor).toBe(300);
  });

  it("updateInvoice failing for good is given up and flagged; the commit still happens", async () => {
    h = await Harness.start(kind);
    const reference = await h.purchase();
    const sessionId = await h.reserve(reference);
    h.seqr.fail("updateInvoice", "transport", { times: 100 });
    await vendAndEnd(h, sessionId, [200]);
    for (let i = 0; i < 8; i++) await h.clock.advance(30_000);
    const purchase = await h.waitForState(reference, "committed");
    expect(purchase.reconciliation).toContain("invoice-rows-not-updated");
    expect(h.seqr.only().committed?.minor).toBe(200);
  });

  it("commitReservation refused before SEQR acted: retried once the status says RESERVED", async () => {
    h = await Harness.start(kind);
    const reference = await h.purchase();
    const sessionId = await h.reserve(reference);
    h.seqr.fail("commitReservation", "transport");
    await vendAndEnd(h, sessionId, [150]);
    await h.drainOutbox();
    expect((await h.purchaseFor(reference)).state).toBe("committing");
    const statusCalls = h.seqr.count("getPaymentStatus");
    await h.clock.advance(1_000);
    await h.drainOutbox();
    await h.waitForState(reference, "committed");
    // The status was checked before the commit was repeated.
    expect(h.seqr.count("getPaymentStatus")).toBe(statusCalls + 1);
    expect(h.seqr.count("commitReservation")).toBe(2);
    expect(h.seqr.only().commitCount).toBe(1);
  });

  it("commitReservation that went through but whose answer was lost is never repeated", async () => {
    h = await Harness.start(kind);
    const reference = await h.purchase();
    const sessionId = await h.reserve(reference);
    h.seqr.fail("commitReservation", "timeout", { when: "after" });
    await vendAndEnd(h, sessionId, [150, 200]);
    await h.drainOutbox();
    expect(h.seqr.only().status).toBe("PAID");
    await h.clock.advance(1_000);
    await h.drainOutbox();
    await h.waitForState(reference, "committed");
    expect(h.seqr.count("commitReservation")).toBe(1);
    expect(h.seqr.only().commitCount).toBe(1);
    expect(h.seqr.only().committed?.minor).toBe(350);
  });

  it("a reservation that is gone (96, status CANCELED) fails the purchase and flags it", async () => {
    h = await Harness.start(kind);
    const reference = await h.purchase();
    const sessionId = await h.reserve(reference);
    await vendAndEnd(h, sessionId, []);
    await h.drainOutbox();
    // Nothing vended: cancelled. Now a second purchase whose reservation SEQR reversed before the commit.
    const second = await h.purchase();
    const sessionTwo = await h.reserve(second);
    h.seqr.cancelByCustomer(second);
    await vendAndEnd(h, sessionTwo, [150]);
    await h.drainOutbox();
    const purchase = await h.waitForState(second, "failed");
    expect(purchase.reconciliation).toContain("commit-failed");
    expect(h.seqr.invoices.get(second)?.commitCount).toBe(0);
  });

  it("commitReservation failing until the deadline ends failed and flagged, never after the reservation", async () => {
    h = await Harness.start(kind);
    const reference = await h.purchase();
    const sessionId = await h.reserve(reference);
    h.seqr.fail("commitReservation", 94, { times: 1_000 });
    await vendAndEnd(h, sessionId, [150]);
    for (let i = 0; i < 12; i++) await h.clock.advance(60_000);
    const purchase = await h.waitForState(reference, "failed");
    expect(purchase.reconciliation).toContain("commit-failed");
    const outbox = await h.store.getOutbox(purchase.sessionId, "commitReservation");
    expect(outbox?.status).toBe("dead");
    expect(outbox?.lastError).toContain("deadline");
  });

  it("cancelInvoice failing is retried; 95 (already cancelled) counts as done", async () => {
    h = await Harness.start(kind);
    const reference = await h.purchase();
    h.seqr.fail("cancelInvoice", 93);
    await h.clock.advance(120_000);
    await h.waitForState(reference, "cancelled");
    await h.drainOutbox();
    expect(h.seqr.only().status).toBe("ISSUED");
    await h.clock.advance(1_000);
    await h.drainOutbox();
    expect(h.seqr.only().status).toBe("CANCELED");
    expect((await h.store.getOutbox((await h.purchaseFor(reference)).sessionId, "cancelInvoice"))?.status).toBe("done");

    const second = await h.purchase();
    h.seqr.fail("cancelInvoice", "timeout", { when: "after" });
    await h.clock.advance(120_000);
    await h.waitForState(second, "cancelled");
    await h.drainOutbox();
    await h.clock.advance(1_000);
    await h.drainOutbox();
    const row = await h.store.getOutbox((await h.purchaseFor(second)).sessionId, "cancelInvoice");
    expect(row?.status).toBe("done");
    expect((await h.purchaseFor(second)).reconciliation).toBeNull();
  });
});
