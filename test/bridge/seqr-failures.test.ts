import { expect, it } from "vitest";
import { describeEachStore } from "./helpers/harness.ts";

/** A SEQR failure injected at each step of the purchase; money must still end up right. */

describeEachStore("SEQR failures", (start) => {
  it("getPaymentStatus failing after the notification is retried inside the window", async () => {
    const h = await start();
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
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    h.seqr.fail("updateInvoice", 93, { times: 2 });
    await h.vendAndEnd(sessionId, [150, 150]);
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
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    h.seqr.fail("updateInvoice", "transport", { times: 100 });
    await h.vendAndEnd(sessionId, [200]);
    for (let i = 0; i < 8; i++) await h.clock.advance(30_000);
    const purchase = await h.waitForState(reference, "committed");
    expect(purchase.reconciliation).toContain("invoice-rows-not-updated");
    expect(h.seqr.only().committed?.minor).toBe(200);
  });

  it("commitReservation refused before SEQR acted: retried once the status says RESERVED", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    h.seqr.fail("commitReservation", "transport");
    await h.vendAndEnd(sessionId, [150]);
    await h.drainOutbox();
    expect((await h.purchaseFor(reference)).state).toBe("committing");
    const statusCalls = h.seqr.count("getPaymentStatus");
    await h.clock.advance(1_000);
    await h.drainOutbox();
    await h.waitForState(reference, "committed");
    // The status was checked before the commit was repeated, and once more for PAID after it.
    expect(h.seqr.count("getPaymentStatus")).toBe(statusCalls + 2);
    expect(h.seqr.count("commitReservation")).toBe(2);
    expect(h.seqr.only().commitCount).toBe(1);
  });

  it("commitReservation that went through but whose answer was lost is never repeated", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    h.seqr.fail("commitReservation", "timeout", { when: "after" });
    await h.vendAndEnd(sessionId, [150, 200]);
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
    const h = await start();
    const { sessionId } = await h.reservedPurchase();
    await h.vendAndEnd(sessionId, []);
    await h.drainOutbox();
    // Nothing vended: cancelled. Now a second purchase whose reservation SEQR reversed before the commit.
    const second = await h.purchase();
    const sessionTwo = await h.reserve(second);
    h.seqr.cancelByCustomer(second);
    await h.vendAndEnd(sessionTwo, [150]);
    await h.drainOutbox();
    const purchase = await h.waitForState(second, "failed");
    expect(purchase.reconciliation).toContain("commit-failed");
    expect(h.seqr.invoices.get(second)?.commitCount).toBe(0);
  });

  it("commitReservation failing until the deadline ends failed and flagged, never after the reservation", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    h.seqr.fail("commitReservation", 94, { times: 1_000 });
    await h.vendAndEnd(sessionId, [150]);
    for (let i = 0; i < 12; i++) await h.clock.advance(60_000);
    const purchase = await h.waitForState(reference, "failed");
    expect(purchase.reconciliation).toContain("commit-failed");
    const outbox = await h.store.getOutbox(purchase.sessionId, "commitReservation");
    expect(outbox?.status).toBe("dead");
    expect(outbox?.lastError).toContain("deadline");
  });

  it("cancelInvoice failing is retried; 95 (already cancelled) counts as done", async () => {
    const h = await start();
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
