import { expect, it } from "vitest";
import { capturedLogs } from "../helpers/captured-logs.ts";
import { eventually } from "../helpers/eventually.ts";
import { describeEachStore, type Harness, vendedEvent, vendFailedEvent } from "./helpers/harness.ts";

/**
 * How the orchestrator applies SEQR's payment status, and its payment and unlock timers, at the points the first
 * mutation run (docs/mutation-report.md, 2026-12-03) found untested: what the audit log says for each status, the
 * status version remembered (and only written when it changed), the poll stopping when it has nothing left to wait
 * for, the unlock-ack declared again for a resent unlock, the unlock's expiry as stored (or missing, in a row older
 * than the column) deciding the cancellation, and the point past which an unlock is no longer resent. One was a
 * defect: an unlock resent in the very millisecond its predecessor was declared unacknowledged was never declared
 * itself (the declaration counted for it), and its machine stayed on offer.
 *
 * Another bridge instance's writes are simulated through the store (several instances on one SQLite file are not a
 * supported set-up, and what the other instance writes is all this instance sees of it).
 */

const unlocked = (sessionId: string) => ({ sessionId, commandId: "x", budgetMinor: 2000, currency: "EUR" });

async function auditOf(h: Harness, sessionId: string, reason: string) {
  return (await h.store.listAudit(sessionId)).filter((entry) => entry.reason === reason);
}

/** The getPaymentStatus calls SEQR has seen at or after `since` (on the bridge's clock). */
function statusCallsSince(h: Harness, since: number) {
  return h.seqr.calls.filter((call) => call.operation === "getPaymentStatus" && (call.at ?? 0) >= since);
}

/** M1 reconnects while its unlock is unacknowledged: its flag is cleared and the unlock goes a second time. */
async function reconnect(h: Harness): Promise<void> {
  h.fleet.setOnline("M1");
  await eventually(() => expect(h.fleet.commands("unlock")).toHaveLength(2));
  await eventually(async () => expect(await h.store.machineUnavailableReason("M1")).toBeUndefined());
}

/** The reservation still stands just before `at` (on the bridge's clock) and is cancelled at `at`. */
async function expectCancelledAt(h: Harness, reference: string, at: number): Promise<void> {
  await h.clock.advanceTo(at - 1);
  expect((await h.purchaseFor(reference)).state).toBe("reserved");
  await h.clock.advance(1);
  await h.waitForState(reference, "cancelled");
}

/**
 * A reserved purchase's unlock goes unacknowledged (declared, M1 flagged); `reconnectAfterMs` later M1 reconnects and
 * the unlock is resent; that one goes unanswered too: M1 is flagged again and the audit log says so twice.
 */
async function expectResentUnlockDeclared(h: Harness, reconnectAfterMs: number): Promise<void> {
  const { reference, sessionId } = await h.reservedPurchase();
  const { unlockAckMs } = h.config.timeouts;
  await h.clock.advance(unlockAckMs);
  expect(await h.store.machineUnavailableReason("M1")).toBe("unlock-not-acknowledged");
  await h.clock.advance(reconnectAfterMs);
  await reconnect(h);
  await h.clock.advance(unlockAckMs);
  expect((await h.purchaseFor(reference)).state).toBe("reserved");
  expect(await h.store.machineUnavailableReason("M1")).toBe("unlock-not-acknowledged");
  expect(await auditOf(h, sessionId, "unlock-not-acknowledged")).toHaveLength(2);
}

/**
 * A reserved purchase whose bridge is down until an unlock resent on its return would be honoured (expiry plus skew)
 * until `msBefore` the session is forced closed: 540 s after the invoice (600 s reservation, 60 s margin).
 */
async function restartWithResentUnlockEnding(h: Harness, msBefore: number): Promise<void> {
  const { reference } = await h.reservedPurchase();
  const { invoicedAt } = await h.purchaseFor(reference);
  const { commandTtlMs, clockSkewMs } = h.config.timeouts;
  const forcedAt = (invoicedAt ?? 0) + 540_000;
  await h.restart({ downForMs: forcedAt - msBefore - commandTtlMs - clockSkewMs - h.clock.now() });
}

describeEachStore("orchestrator: SEQR payment status and the payment and unlock timers", (start) => {
  it("a reservation is audited as payment-reserved with the status version it was seen at", async () => {
    const h = await start();
    const { sessionId } = await h.reservedPurchase();
    const entries = await auditOf(h, sessionId, "payment-reserved");
    expect(entries.map((entry) => [entry.toState, entry.detail])).toEqual([["reserved", { version: 1 }]]);
  });

  it("an invoice the customer cancels, or that expires, before any confirmation: audited as payment-canceled / payment-expired", async () => {
    const h = await start();
    const cancelled = await h.purchase();
    h.seqr.cancelByCustomer(cancelled);
    await h.notify(cancelled);
    await h.waitForState(cancelled, "cancelled");
    const expired = await h.purchase();
    h.seqr.expire(expired);
    await h.notify(expired);
    await h.waitForState(expired, "cancelled");
    for (const [reference, reason] of [
      [cancelled, "payment-canceled"],
      [expired, "payment-expired"],
    ] as const) {
      const { sessionId } = await h.purchaseFor(reference);
      const closing = (await h.store.listAudit(sessionId)).filter((entry) => entry.toState === "cancelled");
      expect(closing.map((entry) => entry.reason)).toEqual([reason]);
    }
  });

  it("while the customer has not confirmed, a new status version is remembered and sent with the next status request", async () => {
    const h = await start();
    const reference = await h.purchase();
    const pollIntervalMs = h.config.timeouts.statusPollIntervalMs;
    h.seqr.only().version = 4;
    await h.clock.advance(pollIntervalMs);
    expect((await h.purchaseFor(reference)).statusVersion).toBe(4);
    await h.clock.advance(pollIntervalMs);
    expect(h.seqr.calls.filter((call) => call.operation === "getPaymentStatus").at(-1)?.version).toBe(4);
  });

  it("polls that find nothing new leave the waiting purchase as it was stored", async () => {
    const h = await start();
    const reference = await h.purchase();
    const before = await h.purchaseFor(reference);
    await h.clock.advance(h.config.timeouts.statusPollIntervalMs * 3);
    expect(h.seqr.count("getPaymentStatus")).toBe(3);
    const after = await h.purchaseFor(reference);
    expect(after.updatedAt).toBe(before.updatedAt);
    expect(after.rowVersion).toBe(before.rowVersion);
  });

  it("while the machine is unlocked, a new status version is remembered and the same one writes nothing", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    await h.fleet.emit("M1", "unlocked", unlocked(sessionId));
    await h.clock.advance(1_000);
    const before = await h.purchaseFor(reference);
    await h.notify(reference);
    const same = await h.purchaseFor(reference);
    expect([same.updatedAt, same.rowVersion]).toEqual([before.updatedAt, before.rowVersion]);
    h.seqr.only().version = 7;
    await h.notify(reference);
    const updated = await h.purchaseFor(reference);
    expect([updated.state, updated.statusVersion]).toEqual(["unlocked", 7]);
    await h.notify(reference);
    expect(h.seqr.calls.filter((call) => call.operation === "getPaymentStatus").at(-1)?.version).toBe(7);
  });

  it("SEQR reporting FAILED while the machine is unlocked ends the reservation, audited as reservation-failed", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    await h.fleet.emit("M1", "unlocked", unlocked(sessionId));
    const invoice = h.seqr.only();
    invoice.status = "FAILED";
    invoice.version += 1;
    await h.notify(reference);
    await h.waitForState(reference, "cancelled");
    expect(h.fleet.commands("cancel").at(-1)?.body).toEqual({ sessionId, reason: "system" });
    const closing = (await h.store.listAudit(sessionId)).filter((entry) => entry.toState === "cancelled");
    expect(closing.map((entry) => entry.reason)).toEqual(["reservation-failed"]);
  });

  it("SEQR letting the reservation expire while vending: the failure is audited with SEQR's status", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    await h.fleet.emit("M1", "unlocked", unlocked(sessionId));
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v1", 200));
    h.seqr.expire(reference);
    await h.notify(reference);
    await h.waitForState(reference, "failed");
    const failing = await auditOf(h, sessionId, "reservation-expired");
    expect(failing.map((entry) => [entry.toState, entry.detail])).toEqual([["failed", { status: "EXPIRED" }]]);
  });

  it("a reservation another instance took stops this instance's poll of it", async () => {
    const h = await start();
    const reference = await h.purchase();
    const { sessionId } = await h.purchaseFor(reference);
    h.seqr.confirm(reference);
    // The other instance saw RESERVED first and wrote what it writes on a reservation.
    const now = h.clock.now();
    await h.store.transition(
      sessionId,
      ["invoiced"],
      "reserved",
      { reservedAt: now, statusVersion: 1, unlockCommandId: `u-${sessionId}`, unlockExpiresAt: now + 10_000 },
      { reason: "payment-reserved", detail: { version: 1 }, at: now },
    );
    const interval = h.config.timeouts.statusPollIntervalMs;
    await h.clock.advance(interval);
    expect(h.seqr.count("getPaymentStatus")).toBe(1);
    await h.clock.advance(interval * 5);
    expect(h.seqr.count("getPaymentStatus")).toBe(1);
  });

  it("a status poll that fails after earlier polls found nothing is still logged by name", async () => {
    const { logger, lines } = capturedLogs("info");
    const h = await start({}, { logger });
    await h.purchase();
    const interval = h.config.timeouts.statusPollIntervalMs;
    await h.clock.advance(interval * 2 - 1);
    const store = h.testStore.store;
    const { transaction } = store;
    store.transaction = () => {
      store.transaction = transaction;
      return Promise.reject(new Error("disk I/O error"));
    };
    await h.clock.advance(1);
    const errors = lines.filter((line) => line.module === "purchase" && line.level === "error");
    expect(errors.map((line) => line.msg)).toEqual(["status poll failed"]);
  });

  it("at the payment deadline the poll stops: one last status request, even while SEQR is slow to answer it", async () => {
    // A sweep (which checks any invoiced purchase without a payment deadline) falls outside the 3 s looked at.
    const h = await start({ timeouts: { sweepIntervalMs: 7_000 } });
    const reference = await h.purchase();
    const { paymentConfirmMs, statusPollIntervalMs } = h.config.timeouts;
    const deadline = (await h.purchaseFor(reference)).invoicedAt! + paymentConfirmMs;
    await h.clock.advanceTo(deadline - 1);
    const release = h.seqr.hold("getPaymentStatus");
    await h.clock.advanceTo(deadline + statusPollIntervalMs);
    const calls = statusCallsSince(h, deadline).length;
    release();
    expect(calls).toBe(1);
    const cancelled = await h.waitForState(reference, "cancelled");
    const timeouts = await auditOf(h, cancelled.sessionId, "payment-timeout");
    expect(timeouts.map((entry) => [entry.fromState, entry.toState])).toEqual([["invoiced", "cancelled"]]);
  });

  it("an unacknowledged unlock is audited with the unlock's expiry", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    const { unlockExpiresAt } = await h.purchaseFor(reference);
    await h.clock.advance(h.config.timeouts.unlockAckMs);
    const entries = await auditOf(h, sessionId, "unlock-not-acknowledged");
    expect(entries.map((entry) => entry.detail)).toEqual([{ unlockExpiresAt }]);
  });

  it("an unlock resent after a first one went unacknowledged is declared again when it too goes unanswered", async () => {
    await expectResentUnlockDeclared(await start(), 2_000);
  });

  it("an unlock resent in the millisecond its predecessor was declared unacknowledged is declared again when unanswered", async () => {
    // The declaration at that millisecond was about the first unlock, not this one.
    await expectResentUnlockDeclared(await start(), 0);
  });

  it("a resent unlock's expiry is stored: a restarted bridge keeps the reservation until it can no longer be honoured", async () => {
    const h = await start();
    const { reference } = await h.reservedPurchase();
    const { commandTtlMs, clockSkewMs } = h.config.timeouts;
    await h.clock.advance(8_000);
    await reconnect(h);
    const resentAt = h.clock.now();
    expect((await h.purchaseFor(reference)).unlockExpiresAt).toBe(resentAt + commandTtlMs);
    await h.restartWithMachineOffline();
    await expectCancelledAt(h, reference, resentAt + commandTtlMs + clockSkewMs);
  });

  it("an unlock another instance resent before it died: this instance cancels once that unlock can no longer be honoured", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    const { commandTtlMs, clockSkewMs } = h.config.timeouts;
    await h.clock.advance(8_000);
    // The other instance resent the unlock (its expiry stored first), then died with its timers.
    const resentAt = h.clock.now();
    await h.store.updatePurchase(sessionId, { unlockExpiresAt: resentAt + commandTtlMs }, resentAt);
    await expectCancelledAt(h, reference, resentAt + commandTtlMs + clockSkewMs);
    expect(h.fleet.commands("cancel").at(-1)?.body).toEqual({ sessionId, reason: "unlock-timeout" });
  });

  it("a reservation stored without its unlock's expiry (a row older than the column) is kept one command lifetime plus skew from its reservation", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    const { reservedAt } = await h.purchaseFor(reference);
    const { commandTtlMs, clockSkewMs } = h.config.timeouts;
    await h.store.updatePurchase(sessionId, { unlockExpiresAt: null }, h.clock.now());
    await h.restartWithMachineOffline();
    await expectCancelledAt(h, reference, reservedAt! + commandTtlMs + clockSkewMs);
  });

  it("a failed vend reported on an unacknowledged unlock keeps the reservation past the unlock's expiry", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    await h.fleet.emit("M1", "vend-failed", vendFailedEvent(sessionId, "v1"));
    const { unlockAckMs, commandTtlMs, clockSkewMs } = h.config.timeouts;
    await h.clock.advance(Math.max(unlockAckMs, commandTtlMs + clockSkewMs) + 1);
    expect((await h.purchaseFor(reference)).state).toBe("reserved");
    expect(h.seqr.count("cancelInvoice")).toBe(0);
  });

  it("a reservation cancelled because its unlock expired unanswered leaves the machine flagged as not acknowledging", async () => {
    const h = await start();
    const { reference } = await h.reservedPurchase();
    const { commandTtlMs, clockSkewMs } = h.config.timeouts;
    await h.clock.advance(commandTtlMs + clockSkewMs);
    await h.waitForState(reference, "cancelled");
    expect(await h.store.machineUnavailableReason("M1")).toBe("unlock-not-acknowledged");
  });

  it("after an outage, an unlock whose expiry plus skew would reach the forced end of the session is not resent", async () => {
    const h = await start();
    await restartWithResentUnlockEnding(h, 0);
    // start() resumed the purchase: what it would resend has been decided.
    expect(h.fleet.commands("unlock")).toHaveLength(1);
  });

  it("after an outage, an unlock whose expiry plus skew ends just before the forced end of the session is resent", async () => {
    const h = await start();
    await restartWithResentUnlockEnding(h, 1);
    await eventually(() => expect(h.fleet.commands("unlock")).toHaveLength(2));
  });
});
