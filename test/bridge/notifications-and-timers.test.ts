import { expect, it } from "vitest";
import { describeEachStore, sessionEndedEvent, vendedEvent } from "./helpers/harness.ts";

describeEachStore("notifications and timers", (start) => {
  it("duplicate notifications unlock once", async () => {
    const h = await start();
    const reference = await h.purchase();
    h.seqr.confirm(reference);
    const statuses = await Promise.all(Array.from({ length: 5 }, () => h.notify(reference)));
    expect(statuses).toEqual([200, 200, 200, 200, 200]);
    await h.waitForState(reference, "reserved");
    await h.notify(reference);
    await h.notify(reference);
    await h.quiesce();
    expect(h.fleet.commands("unlock")).toHaveLength(1);
    const audit = await h.store.listAudit((await h.purchaseFor(reference)).sessionId);
    expect(audit.filter((entry) => entry.toState === "reserved")).toHaveLength(1);
  });

  it("unknown and late notifications answer 200 and change nothing", async () => {
    const h = await start();
    const unknown = await fetch(`${h.baseUrl}/notify/${"x".repeat(43)}`, { method: "POST", body: "whatever" });
    expect(unknown.status).toBe(200);
    const reference = await h.purchase();
    h.seqr.cancelByCustomer(reference);
    await h.notify(reference);
    const cancelled = await h.waitForState(reference, "cancelled");
    expect(h.fleet.commands("cancel")).toEqual([
      expect.objectContaining({ body: { sessionId: cancelled.sessionId, reason: "customer-cancelled" } }),
    ]);
    // Already cancelled by the customer: no cancelInvoice is needed.
    await h.drainOutbox();
    expect(h.seqr.count("cancelInvoice")).toBe(0);
    const callsBefore = h.seqr.calls.length;
    await h.notify(reference);
    await h.quiesce();
    expect(h.seqr.calls.length).toBe(callsBefore);
    expect((await h.purchaseFor(reference)).state).toBe("cancelled");
  });

  it("a notification that arrives before the status changes keeps asking inside the 20-second rule", async () => {
    const h = await start();
    const reference = await h.purchase();
    await h.notify(reference);
    await h.quiesce();
    expect((await h.purchaseFor(reference)).state).toBe("invoiced");
    h.seqr.confirm(reference);
    await h.clock.advance(1_000);
    await h.waitForState(reference, "reserved");
    expect(h.fleet.commands("unlock")).toHaveLength(1);
  });

  it("without a notification, polling finds the reservation", async () => {
    const h = await start();
    const reference = await h.purchase();
    h.seqr.confirm(reference);
    await h.clock.advance(2_999);
    expect((await h.purchaseFor(reference)).state).toBe("invoiced");
    await h.clock.advance(1);
    await h.waitForState(reference, "reserved");
  });

  it("cancels the invoice when the customer never confirms, and frees the machine", async () => {
    const h = await start();
    const reference = await h.purchase();
    await h.clock.advance(120_000);
    const purchase = await h.waitForState(reference, "cancelled");
    await h.drainOutbox();
    expect(h.seqr.only().status).toBe("CANCELED");
    expect(h.fleet.commands("cancel").at(-1)?.body).toEqual({
      sessionId: purchase.sessionId,
      reason: "payment-timeout",
    });
    expect(h.seqr.count("getPaymentStatus")).toBeGreaterThanOrEqual(39);
    await h.purchase();
  });

  it("an unacknowledged unlock takes the machine out of offers; the reservation ends once the unlock has expired", async () => {
    const h = await start();
    const reference = await h.purchase();
    await h.reserve(reference);
    await h.clock.advance(10_000);
    expect((await h.purchaseFor(reference)).state).toBe("reserved");
    expect((await h.createPurchase({ token: "M1", amount: 20, currency: "EUR" })).json).toEqual({
      errorCode: "DEVICE_UNAVAILABLE",
    });
    // The unlock's expiry (10 s) plus the clock skew allowed (5 s).
    await h.clock.advance(5_000);
    await h.waitForState(reference, "cancelled");
    await h.drainOutbox();
    expect(h.seqr.only().status).toBe("CANCELED");
    expect(h.fleet.commands("cancel").at(-1)?.body.reason).toBe("unlock-timeout");
    expect((await h.createPurchase({ token: "M1", amount: 20, currency: "EUR" })).json).toEqual({
      errorCode: "DEVICE_UNAVAILABLE",
    });
    h.fleet.setOnline("M1");
    await h.quiesce();
    expect((await h.createPurchase({ token: "M1", amount: 20, currency: "EUR" })).json).toHaveProperty(
      "invoiceReferenceId",
    );
  });

  it("an unlocked after the unlock expired gets a cancel; a late vend is flagged, never billed", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    await h.clock.advance(15_000);
    await h.waitForState(reference, "cancelled");
    const cancels = h.fleet.commands("cancel").length;
    await h.fleet.emit("M1", "unlocked", { sessionId, commandId: "x", budgetMinor: 2000, currency: "EUR" });
    expect(h.fleet.commands("cancel")).toHaveLength(cancels + 1);
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v1"));
    await h.drainOutbox();
    expect(h.seqr.count("commitReservation")).toBe(0);
    expect((await h.purchaseFor(reference)).reconciliation).toContain("vended-after-close");
  });

  it("the machine refusing the unlock cancels the purchase; a replayed-unlock refusal does not", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    const commandId = h.fleet.commands("unlock")[0]!.commandId;
    // A replay of another unlock command id (this purchase's own one is the acknowledgement: unlock-acknowledgement.test.ts).
    await h.fleet.emit("M1", "command-rejected", {
      sessionId,
      commandId: "an-earlier-unlock",
      command: "unlock",
      reason: "replayed",
      detail: "seen",
    });
    expect((await h.purchaseFor(reference)).state).toBe("reserved");
    await h.fleet.emit("M1", "command-rejected", {
      sessionId,
      commandId,
      command: "unlock",
      reason: "bad-signature",
      detail: "hmac",
    });
    await h.waitForState(reference, "cancelled");
    await h.drainOutbox();
    expect(h.seqr.only().status).toBe("CANCELED");
    expect(await h.store.machineUnavailableReason("M1")).toBe("unlock-rejected:bad-signature");
  });

  it("duplicate events (same eventId) are stored and billed once", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    await h.fleet.emit("M1", "unlocked", { sessionId, commandId: "x", budgetMinor: 2000, currency: "EUR" });
    const vend = { eventId: "ev-vend-1", ...vendedEvent(sessionId, "v1") };
    await h.fleet.emit("M1", "vended", vend);
    await h.fleet.emit("M1", "vended", vend);
    // Same vend under a new event id (the agent resent it after a restart): still one vend.
    await h.fleet.emit("M1", "vended", { ...vend, eventId: "ev-vend-1b" });
    const endEvent = { eventId: "ev-end", ...sessionEndedEvent(sessionId, 1, 150) };
    await h.fleet.emit("M1", "session-ended", endEvent);
    await h.fleet.emit("M1", "session-ended", endEvent);
    await h.drainOutbox();
    await h.waitForState(reference, "committed");
    expect(await h.store.listVends(sessionId)).toHaveLength(1);
    expect(h.seqr.only().committed?.minor).toBe(150);
    expect(h.seqr.only().commitCount).toBe(1);
  });

  it("a session that never ends: cancel at sessionMaxMs, then billing of what is stored before the commit deadline", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    await h.fleet.emit("M1", "unlocked", { sessionId, commandId: "x", budgetMinor: 2000, currency: "EUR" });
    await h.fleet.emit("M1", "vended", { ...vendedEvent(sessionId, "v1", 200, "A2"), evidence: "drop-sensor" });
    await h.clock.advance(300_000);
    expect(h.fleet.commands("cancel").at(-1)?.body).toEqual({ sessionId, reason: "system" });
    expect((await h.purchaseFor(reference)).state).toBe("vending");
    // 600 s reservation, 60 s margin: forced at 540 s after the reservation.
    await h.clock.advance(240_000);
    await h.drainOutbox();
    const purchase = await h.waitForState(reference, "committed");
    expect(h.seqr.only().committed?.minor).toBe(200);
    expect(purchase.reconciliation).toContain("commit-deadline");
  });
});
