import { expect, it } from "vitest";
import { describeEachStore, sessionEndedEvent, vendedEvent } from "./helpers/harness.ts";

/**
 * Issue 15, defect 4: a SEQR notification for any open purchase re-checks the status, not only while `invoiced`. A
 * reservation SEQR cancelled (or let expire) while the machine is unlocked or vending cannot be committed: the
 * machine is told to cancel at once, and anything vended after that is stored and flagged with its evidence.
 */

describeEachStore("SEQR ends the reservation while the machine is open", (start) => {
  it("CANCELED while unlocked: the machine gets a cancel; a vend after it is stored and flagged, never billed", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    await h.fleet.emit("M1", "unlocked", { sessionId, commandId: "x", budgetMinor: 2000, currency: "EUR" });
    const statusCalls = h.seqr.count("getPaymentStatus");
    h.seqr.cancelByCustomer(reference);
    await h.notify(reference);
    expect(h.seqr.count("getPaymentStatus")).toBeGreaterThan(statusCalls);
    await h.waitForState(reference, "cancelled");
    expect(h.fleet.commands("cancel").at(-1)?.body).toEqual({ sessionId, reason: "customer-cancelled" });
    // The machine had already approved one more vend before the cancel reached it.
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v1", 150));
    await h.fleet.emit("M1", "session-ended", sessionEndedEvent(sessionId, 1, 150));
    await h.drainOutbox();
    const after = await h.purchaseFor(reference);
    expect(after.state).toBe("cancelled");
    expect(after.reconciliation).toContain("vended-after-close");
    expect(await h.store.listVends(sessionId)).toEqual([expect.objectContaining({ vendId: "v1", outcome: "vended" })]);
    const flag = (await h.store.listAudit(sessionId)).find((e) => e.reason === "reconcile:vended-after-close");
    expect(flag?.detail).toMatchObject({ vendId: "v1", priceMinor: 150, evidence: "vend-success" });
    expect(h.seqr.count("commitReservation")).toBe(0);
  });

  it("EXPIRED while vending: the machine gets a cancel and the vends already stored are flagged with their figures", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    await h.fleet.emit("M1", "unlocked", { sessionId, commandId: "x", budgetMinor: 2000, currency: "EUR" });
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v1", 200));
    h.seqr.expire(reference);
    await h.notify(reference);
    const failed = await h.waitForState(reference, "failed");
    expect(h.fleet.commands("cancel").at(-1)?.body).toEqual({ sessionId, reason: "system" });
    expect(failed.reconciliation).toContain("reservation-lost-with-vends");
    const flag = (await h.store.listAudit(sessionId)).find((e) => e.reason === "reconcile:reservation-lost-with-vends");
    expect(flag?.detail).toMatchObject({ status: "EXPIRED", vendedMinor: 200, vends: ["v1"] });
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v2", 150));
    expect((await h.purchaseFor(reference)).reconciliation).toContain("vended-after-close");
    expect(await h.store.listVends(sessionId)).toHaveLength(2);
    await h.drainOutbox();
    expect(h.seqr.count("commitReservation")).toBe(0);
  });

  it("CANCELED while the unlock is unacknowledged: cancelled at once, the machine told", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    h.seqr.cancelByCustomer(reference);
    await h.notify(reference);
    await h.waitForState(reference, "cancelled");
    expect(h.fleet.commands("cancel").at(-1)?.body).toEqual({ sessionId, reason: "customer-cancelled" });
    await h.drainOutbox();
    expect(h.seqr.count("cancelInvoice")).toBe(0);
  });

  it("a notification while unlocked and still RESERVED changes nothing", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    await h.fleet.emit("M1", "unlocked", { sessionId, commandId: "x", budgetMinor: 2000, currency: "EUR" });
    const statusCalls = h.seqr.count("getPaymentStatus");
    await h.notify(reference);
    expect(h.seqr.count("getPaymentStatus")).toBe(statusCalls + 1);
    expect((await h.purchaseFor(reference)).state).toBe("unlocked");
    expect(h.fleet.commands("cancel")).toHaveLength(0);
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v1", 150));
    await h.fleet.emit("M1", "session-ended", sessionEndedEvent(sessionId, 1, 150));
    await h.drainOutbox();
    await h.waitForState(reference, "committed");
  });
});
