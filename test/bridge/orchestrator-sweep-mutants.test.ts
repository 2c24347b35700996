import { expect, it, vi } from "vitest";
import { reservationInvoice } from "../../backend-bridge/purchase/invoice.ts";
import type { Purchase } from "../../backend-bridge/store/store.ts";
import { capturedLogs } from "../helpers/captured-logs.ts";
import { eventually } from "../helpers/eventually.ts";
import { describeEachStore, type Harness, type StartHarness, vendedEvent } from "./helpers/harness.ts";

/**
 * The orchestrator's sweep of overdue purchases and its resume after a restart, at the points the first mutation run
 * (docs/mutation-report.md, 2026-12-03) found untested: each deadline the sweep takes over (a stale claim, the payment
 * deadline, the unlock's expiry, the forced commit, the session maximum) is taken over one sweep interval after it and
 * not at that instant (the manual clock puts a sweep exactly one interval after each deadline); a session the machine
 * ended is never asked to end; a failed takeover or status check is logged by name and tried again; a bridge stopping
 * mid-sweep leaves the rest alone; a restarted bridge gives an offline machine its full acknowledgement time, times the
 * session maximum from the unlock and finishes an ended session at once; a late invoice settles only its own
 * reconciliation reason.
 *
 * The purchases of "another instance" are written to the store directly while this bridge runs: no timer of this
 * instance exists for them, only the sweep (every 10 s from the start, handling deadlines more than 10 s old) sees them.
 */

type Line = Record<string, unknown>;

const sweepMs = 10_000;

interface OthersPurchase {
  state: "claimed" | "invoiced" | "reserved" | "unlocked";
  /** When it was claimed, invoiced, reserved and unlocked (as far as its state goes). */
  at: number;
  machineId?: "M1" | "M2";
  unlockExpiresAt?: number;
  /** The machine reported the end of the session after this many vends (none of them stored). */
  endedVendedCount?: number;
}

/** A purchase another (dead) instance took as far as `state`: its SEQR invoice is real, no timer of ours runs for it. */
async function othersPurchase(h: Harness, sessionId: string, spec: OthersPurchase): Promise<Purchase> {
  const { at, machineId = "M1" } = spec;
  const claimed = await h.store.claimMachine({
    sessionId,
    machineId,
    amountMinor: 2000,
    currency: machineId === "M1" ? "EUR" : "SEK",
    msisdn: "46701234567",
    notifySecret: `secret-${sessionId}`.padEnd(43, "x"),
    at,
  });
  if (!claimed) throw new Error(`${machineId} is held`);
  if (spec.state === "claimed") return claimed;
  const context = { notificationUrl: "https://bridge.example/seqr/notify/x", commitReservationTimeoutSeconds: 600 };
  const { invoiceReference } = await h.seqr.sendInvoice(reservationInvoice(claimed, context));
  const audit = (reason: string) => ({ reason, at });
  let purchase = await h.store.transition(
    sessionId,
    ["claimed"],
    "invoiced",
    { invoiceReference, invoicedAt: at },
    audit("invoice-sent"),
  );
  if (spec.state !== "invoiced") {
    h.seqr.confirm(invoiceReference);
    const unlockExpiresAt = spec.unlockExpiresAt ?? at + h.config.timeouts.commandTtlMs;
    purchase = await h.store.transition(
      sessionId,
      ["invoiced"],
      "reserved",
      { reservedAt: at, unlockExpiresAt, unlockCommandId: `cmd-${sessionId}` },
      audit("reserved"),
    );
  }
  if (spec.state === "unlocked") {
    purchase = await h.store.transition(sessionId, ["reserved"], "unlocked", { unlockedAt: at }, audit("unlocked"));
    if (spec.endedVendedCount !== undefined) {
      const ended = spec.endedVendedCount;
      await h.store.updatePurchase(
        sessionId,
        {
          endedVendedCount: ended,
          endedVendedTotalMinor: ended * 150,
          endedUnknownCount: 0,
          endReason: "customer-done",
        },
        at,
      );
    }
  }
  if (!purchase) throw new Error(`${sessionId} did not reach ${spec.state}`);
  return purchase;
}

async function stateOf(h: Harness, sessionId: string) {
  return (await h.store.getPurchase(sessionId))?.state;
}

async function auditedAt(h: Harness, sessionId: string, reason: string): Promise<number[]> {
  return (await h.store.listAudit(sessionId)).filter((entry) => entry.reason === reason).map((entry) => entry.at);
}

async function loggedHarness(start: StartHarness, overrides: Record<string, unknown> = {}) {
  const { logger, lines } = capturedLogs("info");
  const h = await start(overrides, { logger });
  const errors = (): Line[] =>
    lines
      .filter((line) => line.module === "purchase" && line.level === "error")
      .map(({ msg, err, sessionId }) => ({ msg, err, sessionId }));
  return { h, errors };
}

/** A deadline the sweep takes over, `dueAt` ms after the start (the harness's timeouts), and what it leaves. */
interface Takeover {
  deadline: string;
  /** The purchase, its times relative to the start. */
  spec: OthersPurchase;
  dueAt: number;
  /** The audit entry its handler writes. */
  reason: string;
  stateAfter: string;
}

const takeovers: Takeover[] = [
  // seqr.requestTimeoutMs 5 s: a claim is stale 15 s after it was made.
  {
    deadline: "a claim's stale deadline",
    spec: { state: "claimed", at: 5_000 },
    dueAt: 20_000,
    reason: "stale-claim",
    stateAfter: "failed",
  },
  // paymentConfirmMs 120 s after the invoice.
  {
    deadline: "the payment deadline",
    spec: { state: "invoiced", at: 0 },
    dueAt: 120_000,
    reason: "payment-timeout",
    stateAfter: "cancelled",
  },
  // The unlock is honourable until its expiresAt plus the 5 s clock skew (its acknowledgement was due at 5 s).
  {
    deadline: "the unlock's expiry",
    spec: { state: "reserved", at: -5_000, unlockExpiresAt: 5_000 },
    dueAt: 10_000,
    reason: "unlock-expired-unacknowledged",
    stateAfter: "cancelled",
  },
  // Reservation 600 s, margin 60 s: forced 540 s after the invoice (nothing vended: cancelled).
  {
    deadline: "the forced commit",
    spec: { state: "unlocked", at: -530_000 },
    dueAt: 10_000,
    reason: "reconcile:commit-deadline",
    stateAfter: "cancelled",
  },
  // sessionMaxMs 300 s after the unlock: the machine is asked to end the session.
  {
    deadline: "the session maximum",
    spec: { state: "unlocked", at: -290_000 },
    dueAt: 10_000,
    reason: "session-max-exceeded",
    stateAfter: "unlocked",
  },
];

describeEachStore("orchestrator: the sweep of overdue purchases", (start) => {
  for (const { deadline, spec, dueAt, reason, stateAfter } of takeovers) {
    it(`a purchase of a dead instance past ${deadline} is taken over one sweep interval after it, not at it`, async () => {
      const h = await start();
      const t0 = h.clock.now();
      const sessionId = `sOther-${reason}`;
      const { unlockExpiresAt } = spec;
      await othersPurchase(h, sessionId, {
        ...spec,
        at: t0 + spec.at,
        ...(unlockExpiresAt === undefined ? {} : { unlockExpiresAt: t0 + unlockExpiresAt }),
      });
      // The sweep at dueAt + 10 s sees the deadline exactly 10 s old: not yet more than one interval.
      await h.clock.advanceTo(t0 + dueAt + sweepMs);
      expect(await auditedAt(h, sessionId, reason)).toEqual([]);
      await h.clock.advance(sweepMs);
      expect(await auditedAt(h, sessionId, reason)).toEqual([t0 + dueAt + 2 * sweepMs]);
      expect(await stateOf(h, sessionId)).toBe(stateAfter);
    });
  }

  it("a session the machine ended is never asked to end, even when its vends never arrive: the commit deadline closes it", async () => {
    const h = await start();
    const t0 = h.clock.now();
    // Ended long past the session maximum, its one vend missing; forced at t0 + 10 s (see above), closed at t0 + 30 s.
    await othersPurchase(h, "sOtherEnded", { state: "unlocked", at: t0 - 530_000, endedVendedCount: 1 });
    await h.clock.advanceTo(t0 + 30_000);
    expect(await stateOf(h, "sOtherEnded")).toBe("cancelled");
    const reasons = (await h.store.listAudit("sOtherEnded")).map((entry) => entry.reason);
    expect(reasons).toContain("reconcile:commit-deadline");
    expect(reasons).not.toContain("session-max-exceeded");
    expect(h.fleet.commands("cancel")).toEqual([]);
  });

  it("a status check of another instance's payment that fails is logged by name, and the next sweep checks again", async () => {
    const { h, errors } = await loggedHarness(start);
    const t0 = h.clock.now();
    const other = await othersPurchase(h, "sOtherPaid", { state: "invoiced", at: t0 });
    h.seqr.confirm(other.invoiceReference ?? "");
    // The sweep's status check reads the purchase first: that read fails.
    vi.spyOn(h.testStore.store, "getPurchase").mockRejectedValueOnce(new Error("disk I/O error"));
    await h.clock.advance(sweepMs);
    expect(errors()).toEqual([
      { msg: "status check of another instance's payment failed", err: expect.anything(), sessionId: undefined },
    ]);
    expect(await stateOf(h, "sOtherPaid")).toBe("invoiced");
    await h.clock.advance(sweepMs);
    await eventually(async () => expect(await stateOf(h, "sOtherPaid")).toBe("reserved"));
  });

  it("a takeover that fails is logged with its session, and the next sweep takes it over again", async () => {
    const { h, errors } = await loggedHarness(start);
    const t0 = h.clock.now();
    await othersPurchase(h, "sOtherFails", { state: "unlocked", at: t0 - 600_000 });
    vi.spyOn(h.testStore.store, "transaction").mockRejectedValueOnce(new Error("disk I/O error"));
    await h.clock.advance(sweepMs);
    expect(errors()).toEqual([
      {
        msg: "overdue purchase not handled",
        err: expect.objectContaining({ message: "disk I/O error" }),
        sessionId: "sOtherFails",
      },
    ]);
    await h.clock.advance(sweepMs);
    expect(await auditedAt(h, "sOtherFails", "reconcile:commit-deadline")).toEqual([t0 + 20_000]);
  });

  it("a bridge stopping mid-sweep finishes the purchase in hand and leaves the others to the next instance", async () => {
    const h = await start();
    const t0 = h.clock.now();
    // Listed in the order of their claims: the overdue invoice first, then a stale claim on M2.
    await othersPurchase(h, "sOtherFirst", { state: "invoiced", at: t0 - 200_000 });
    await othersPurchase(h, "sOtherSecond", { state: "claimed", at: t0 - 100_000, machineId: "M2" });
    // SEQR is slow to answer the status checks of the first (the sweep's own and the deadline's last look).
    const releases = [h.seqr.hold("getPaymentStatus"), h.seqr.hold("getPaymentStatus")];
    await h.clock.advance(sweepMs);
    await eventually(() => expect(h.seqr.count("getPaymentStatus")).toBe(2));
    const stopped = h.app.orchestrator.stop();
    for (const release of releases) release();
    await stopped;
    expect(await stateOf(h, "sOtherFirst")).toBe("cancelled");
    expect(await stateOf(h, "sOtherSecond")).toBe("claimed");
  });
});

describeEachStore("orchestrator: resuming open purchases after a restart", (start) => {
  it("a machine offline at the restart gets the full unlockAckMs from the restart before it is declared unresponsive", async () => {
    // The unlock stays honourable for the whole test; the machine has 30 s to answer each (re)send.
    const h = await start({ timeouts: { unlockAckMs: 30_000, clockSkewMs: 300_000 } });
    const { sessionId } = await h.reservedPurchase();
    h.fleet.setOnline("M1", false);
    await h.restart({ downForMs: 60_000 });
    const restartedAt = h.clock.now();
    // The unlock sent before the restart went unanswered long ago, but no sweep declares it while our timer runs.
    await h.clock.advance(30_000);
    expect(await auditedAt(h, sessionId, "unlock-not-acknowledged")).toEqual([restartedAt + 30_000]);
  });

  it("a restarted bridge asks a session to end exactly sessionMaxMs after the unlock", async () => {
    const h = await start();
    const { sessionId } = await h.reservedPurchase();
    await h.fleet.emit("M1", "unlocked", { sessionId, commandId: "x", budgetMinor: 2000, currency: "EUR" });
    const unlockedAt = h.clock.now();
    await h.restart();
    await h.clock.advance(h.config.timeouts.sessionMaxMs);
    expect(await auditedAt(h, sessionId, "session-max-exceeded")).toEqual([
      unlockedAt + h.config.timeouts.sessionMaxMs,
    ]);
    expect(h.fleet.commands("cancel").map((command) => command.body)).toEqual([{ sessionId, reason: "system" }]);
  });

  it("a restarted bridge finishes at once a session the store holds as ended with all its vends", async () => {
    const h = await start();
    const { reference, sessionId } = await h.unlockedPurchase("20");
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v1"));
    // The end of the session is in the store but the purchase was not moved on (a store written by another version).
    await h.store.updatePurchase(
      sessionId,
      { endedVendedCount: 1, endedVendedTotalMinor: 150, endedUnknownCount: 0, endReason: "customer-done" },
      h.clock.now(),
    );
    await h.restart();
    // Moved on by the restart itself, before any time passes (its outbox may have committed it already).
    expect(["committing", "committed"]).toContain((await h.purchaseFor(reference)).state);
    await h.drainOutbox();
    await h.waitForState(reference, "committed");
    expect(h.seqr.only().committed?.minor).toBe(150);
  });
});

describeEachStore("orchestrator: a late invoice of a released claim", (start) => {
  it("settles only the unknown-reference flag: the other reasons a person must look at stay, in order", async () => {
    const h = await start();
    const release = h.seqr.hold("sendInvoice");
    const pending = h.createPurchase({ token: "M1", amount: 20, currency: "EUR", msisdn: "46701234567" });
    await eventually(() => expect(h.seqr.count("sendInvoice")).toBe(1));
    await h.clock.advance(h.config.timeouts.createPurchaseMs);
    expect((await pending).json).toEqual({ errorCode: "INVOICING_ERROR" });
    const [failed] = await h.store.listPurchases({ machineId: "M1" });
    const sessionId = failed?.sessionId ?? "";
    // The machine reports a vend, in the wrong currency, for the session it never had: two more reasons.
    await h.fleet.emit("M1", "vended", { ...vendedEvent(sessionId, "v1"), currency: "SEK" });
    expect((await h.store.getPurchase(sessionId))?.reconciliation).toBe(
      "invoice-reference-unknown,vend-currency-mismatch,vended-after-close",
    );
    release();
    await eventually(async () => expect((await h.store.getPurchase(sessionId))?.invoiceReference).not.toBeNull());
    expect((await h.store.getPurchase(sessionId))?.reconciliation).toBe("vend-currency-mismatch,vended-after-close");
  });
});
