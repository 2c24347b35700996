import { expect, it } from "vitest";
import { describeEachStore, sessionEndedEvent, vendedEvent } from "./helpers/harness.ts";

describeEachStore("purchase flow", (start) => {
  it("bills exactly the confirmed vends: sendInvoice, unlock, updateInvoice rows, commit of the sum", async () => {
    const h = await start();
    const reference = await h.purchase("M1", 20);
    const invoice = h.seqr.only();
    expect(invoice.invoice.paymentMode).toBe("RESERVATION_REQUIRED_PRELIMINARY_AMOUNT");
    expect(invoice.invoice.total).toEqual({ minor: 2000, currency: "EUR" });
    expect(invoice.invoice.commitReservationTimeoutSeconds).toBe(600);
    expect(invoice.invoice.notificationUrl).toMatch(/^https:\/\/bridge\.example\/seqr\/notify\/[A-Za-z0-9_-]{43}$/);
    expect(h.fleet.commands("payment-pending", "M1")).toHaveLength(1);

    const sessionId = await h.reserve(reference);
    const unlock = h.fleet.commands("unlock", "M1");
    expect(unlock).toHaveLength(1);
    expect(unlock[0]?.body).toMatchObject({ sessionId, budgetMinor: 2000, currency: "EUR" });

    await h.fleet.emit("M1", "unlocked", {
      sessionId,
      commandId: unlock[0]!.commandId,
      budgetMinor: 2000,
      currency: "EUR",
    });
    expect((await h.purchaseFor(reference)).state).toBe("unlocked");
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v1"));
    await h.fleet.emit("M1", "vend-failed", {
      sessionId,
      vendId: "v2",
      selection: "A2",
      priceMinor: 200,
      currency: "EUR",
      outcome: "not-delivered",
      evidence: "vend-failure",
    });
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v3", 150, "A1"));
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v4", 200, "A2"));
    await h.drainOutbox();
    await h.fleet.emit("M1", "session-ended", sessionEndedEvent(sessionId, 3, 500));
    await h.drainOutbox();

    const done = await h.waitForState(reference, "committed");
    expect(done.billedMinor).toBe(500);
    expect(done.reconciliation).toBeNull();
    expect(done.msisdn).toBe("*********67");
    expect(invoice.committed).toEqual({ minor: 500, currency: "EUR" });
    expect(invoice.commitCount).toBe(1);
    const last = invoice.updates.at(-1)!;
    expect(last.total).toEqual({ minor: 500, currency: "EUR" });
    expect(last.rows).toEqual([
      {
        description: "Still water",
        sku: "WATER-05",
        quantity: 2,
        unitPrice: { minor: 150, currency: "EUR" },
        total: { minor: 300, currency: "EUR" },
      },
      {
        description: "Cola",
        sku: "COLA-033",
        quantity: 1,
        unitPrice: { minor: 200, currency: "EUR" },
        total: { minor: 200, currency: "EUR" },
      },
    ]);
    // The commit came after the final rows.
    const order = h.seqr.calls.map((call) => call.operation);
    expect(order.lastIndexOf("updateInvoice")).toBeLessThan(order.indexOf("commitReservation"));
    const audit = await h.store.listAudit(done.sessionId);
    expect(audit.map((entry) => entry.toState)).toEqual(
      expect.arrayContaining(["claimed", "invoiced", "reserved", "unlocked", "vending", "committing", "committed"]),
    );
    // The machine is free again.
    await h.purchase("M1", 5);
  });

  it("cancels the invoice when nothing was vended, and frees the machine", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    await h.fleet.emit("M1", "unlocked", { sessionId, commandId: "x", budgetMinor: 2000, currency: "EUR" });
    await h.fleet.emit("M1", "session-ended", { ...sessionEndedEvent(sessionId, 0, 0), reason: "idle-timeout" });
    await h.drainOutbox();
    const purchase = await h.waitForState(reference, "cancelled");
    expect(purchase.billedMinor).toBeNull();
    expect(h.seqr.only().status).toBe("CANCELED");
    expect(h.seqr.count("commitReservation")).toBe(0);
  });

  it("does not bill an unknown outcome and flags it for reconciliation", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    await h.vendOneAndOneUnknown(sessionId);
    await h.drainOutbox();
    const purchase = await h.waitForState(reference, "committed");
    expect(h.seqr.only().committed?.minor).toBe(150);
    expect(purchase.reconciliation).toContain("unknown-vend");
  });

  it("waits for every vended event session-ended announced before committing", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    await h.fleet.emit("M1", "unlocked", { sessionId, commandId: "x", budgetMinor: 2000, currency: "EUR" });
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v1"));
    await h.fleet.emit("M1", "session-ended", sessionEndedEvent(sessionId, 2, 350));
    await h.drainOutbox();
    expect((await h.purchaseFor(reference)).state).toBe("vending");
    expect(h.seqr.count("commitReservation")).toBe(0);
    // The machine's resend of the missing vend arrives after session-ended.
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v2", 200, "A2"));
    await h.drainOutbox();
    const purchase = await h.waitForState(reference, "committed");
    expect(purchase.billedMinor).toBe(350);
    expect(h.seqr.only().committed?.minor).toBe(350);
  });

  it("never commits more than reserved, even if the machine reports more", async () => {
    const h = await start();
    const { reference, sessionId } = await h.unlockedPurchase("2.00");
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v1"));
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v2"));
    await h.fleet.emit("M1", "session-ended", sessionEndedEvent(sessionId, 2, 300));
    await h.drainOutbox();
    const purchase = await h.waitForState(reference, "committed");
    expect(purchase.billedMinor).toBe(200);
    expect(h.seqr.only().committed?.minor).toBe(200);
    expect(h.seqr.only().updates.at(-1)?.total.minor).toBe(200);
    expect(purchase.reconciliation).toContain("vended-above-reservation");
  });
});
