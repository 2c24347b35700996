import { expect, it } from "vitest";
import { describeEachStore, type Harness, sessionEndedEvent, vendedEvent } from "./helpers/harness.ts";
import { failTransitionsTo, sendInvoiceAnsweredAtDeadline } from "./helpers/orchestrator-faults.ts";

/**
 * The timers a purchase holds in each state, and the closed-purchase counter by outcome (issue 16: the mutation run
 * found a timer left behind after a state change, or a close not counted, unnoticed by every test).
 *
 *   invoiced: poll, payment deadline; reserved: unlock ack, unlock expiry, commit deadline;
 *   unlocked / vending: session max, commit deadline; closed or committing: none.
 */

const body = { token: "M1", amount: 20, currency: "EUR", msisdn: "46701234567" };

/** Timers the bridge holds beyond those it holds idle (sweep, availability re-check, outbox poll). */
async function purchaseTimers(start: () => Promise<Harness>) {
  const h = await start();
  await h.quiesce();
  const idle = h.clock.pending;
  const timers = async () => {
    await h.quiesce();
    return h.clock.pending - idle;
  };
  return { h, timers };
}

async function closedCount(h: Harness, outcome: string): Promise<number> {
  const { values } = await h.app.metrics.sessions.get();
  return values.find((value) => value.labels.outcome === outcome)?.value ?? 0;
}

describeEachStore("orchestrator: timers and the closed-purchase counter", (start) => {
  it("each state of a sale holds exactly its own timers, and none once committing", async () => {
    const { h, timers } = await purchaseTimers(start);
    expect(await timers()).toBe(0);
    const reference = await h.purchase();
    expect(await timers()).toBe(2);
    const sessionId = await h.reserve(reference);
    expect(await timers()).toBe(3);
    await h.fleet.emit("M1", "unlocked", { sessionId, commandId: "x", budgetMinor: 2000, currency: "EUR" });
    expect(await timers()).toBe(2);
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v1"));
    expect(await timers()).toBe(2);
    await h.fleet.emit("M1", "session-ended", sessionEndedEvent(sessionId, 1, 150));
    expect(await timers()).toBe(0);
    // Nothing polls SEQR for a reservation being committed.
    const statusCalls = h.seqr.count("getPaymentStatus");
    await h.clock.advance(h.config.timeouts.statusPollIntervalMs);
    expect(h.seqr.count("getPaymentStatus")).toBe(statusCalls);
  });

  it("a reservation found by the poll stops the poll and the payment deadline", async () => {
    const { h, timers } = await purchaseTimers(start);
    const reference = await h.purchase();
    h.seqr.confirm(reference);
    await h.clock.advance(h.config.timeouts.statusPollIntervalMs);
    await h.waitForState(reference, "reserved");
    expect(await timers()).toBe(3);
    const statusCalls = h.seqr.count("getPaymentStatus");
    await h.clock.advance(h.config.timeouts.statusPollIntervalMs * 3);
    expect(h.seqr.count("getPaymentStatus")).toBe(statusCalls);
  });

  it("every close drops the purchase's timers and is counted by outcome", async () => {
    const { h, timers } = await purchaseTimers(start);
    // sendInvoice refused: the claim is released.
    h.seqr.fail("sendInvoice", 37);
    expect((await h.createPurchase(body)).json).toEqual({ errorCode: "INVOICING_ERROR" });
    expect(await timers()).toBe(0);
    expect(await closedCount(h, "failed")).toBe(1);

    // The customer cancels.
    const cancelled = await h.purchase();
    h.seqr.cancelByCustomer(cancelled);
    await h.notify(cancelled);
    await h.waitForState(cancelled, "cancelled");
    expect(await timers()).toBe(0);
    expect(await closedCount(h, "cancelled")).toBe(1);

    // sendInvoice answers just as the deadline passes: the claimed purchase fails with the late invoice.
    expect(await sendInvoiceAnsweredAtDeadline(h, body, 3)).toEqual({ errorCode: "INVOICING_ERROR" });
    await h.quiesce();
    expect(await timers()).toBe(0);
    expect(await closedCount(h, "failed")).toBe(2);

    // A claim the store could not release at once: the stale-claim timer fails it.
    const restore = failTransitionsTo(h.testStore.store, ["invoiced", "failed"]);
    expect((await h.createPurchase(body)).json).toEqual({ errorCode: "INVOICING_ERROR" });
    restore();
    expect(await timers()).toBe(1);
    await h.clock.advance(15_000);
    expect(await timers()).toBe(0);
    expect(await closedCount(h, "failed")).toBe(3);
    expect(await closedCount(h, "cancelled")).toBe(1);
  });
});
