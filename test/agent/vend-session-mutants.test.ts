import { afterEach, describe, expect, it, vi } from "vitest";
import type { Journal } from "../../agent/journal/journal.ts";
import type { Catalog } from "../../protocol/catalog.ts";
import { ManualClock } from "../helpers/manual-clock.ts";
import { FakeMechanism } from "./helpers/fake-mechanism.ts";
import {
  capturingLogger,
  envelope,
  harnessPool,
  type SessionHarness,
  testCatalog,
  until,
} from "./helpers/session-harness.ts";

/**
 * The vend session's survivors of the mutation run of 2026-12-03 (issue 16): the credit a held selection leaves, the
 * reasons and end screens of a cancelled payment, what the machine is told when a step fails, which timer a step
 * clears, a payment timer that fires while a newer payment is admitted, and what the operator reads in the log.
 */

const signature = "0".repeat(64);
const pool = harnessPool();
const harness = pool.open;

afterEach(async () => {
  vi.useRealTimers();
  vi.restoreAllMocks();
  await pool.closeAll();
});

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function unlock(h: SessionHarness, sessionId: string, budgetMinor: number, mode?: "single-vend" | "multi-vend") {
  const env = envelope();
  return h.session.unlock(
    { ...env, sessionId, budgetMinor, currency: "EUR", signature, ...(mode ? { mode } : {}) },
    env,
  );
}

function paymentPending(h: SessionHarness, sessionId: string, amountMinor: number) {
  const env = envelope();
  return h.session.paymentPending({ ...env, sessionId, amountMinor, currency: "EUR", signature }, env);
}

function cancel(h: SessionHarness, sessionId: string, reason: "customer-cancelled" | "payment-timeout") {
  const env = envelope();
  return h.session.cancel({ ...env, sessionId, reason, signature }, env);
}

/** A selection-first request for Cola (A2, 200), held by the machine. */
const cola = { selection: "x", mdbItem: 12, priceMinor: 200, requestId: 7, sessionless: true } as const;

const failed = { outcome: "not-delivered", evidence: "vend-failure" } as const;

/** A mechanism whose deny, closeSession or openSession can be held at a gate or made to fail. */
class ScriptedMechanism extends FakeMechanism {
  denyGate: Promise<void> | null = null;
  failDeny = false;
  failClose = false;
  /** openSession calls (1-based) that throw. */
  failOpenAt: number[] = [];
  override async deny(selection: string, reason: string): Promise<void> {
    await super.deny(selection, reason);
    if (this.denyGate !== null) await this.denyGate;
    if (this.failDeny) throw new Error("serial port gone");
  }
  override async closeSession(): Promise<void> {
    await super.closeSession();
    if (this.failClose) throw new Error("close refused");
  }
  override async openSession(budgetMinor: number, heldRequestId?: number): Promise<void> {
    await super.openSession(budgetMinor, heldRequestId);
    if (this.failOpenAt.includes(this.openSessions.length)) throw new Error("begin session refused");
  }
}

function gate() {
  let open: () => void = () => undefined;
  const closed = new Promise<void>((resolve) => {
    open = () => resolve();
  });
  return { closed, open };
}

/** Lets the journal's commit of `name` fail (or run `before` first), every other commit as usual. */
function onCommit(journal: Journal, name: string, before: () => Promise<void> | void) {
  const original = journal.commit.bind(journal);
  vi.spyOn(journal, "commit").mockImplementation(async (...args: Parameters<Journal["commit"]>) => {
    if (args[0] === name) await before();
    return original(...args);
  });
}

describe("credit and money", () => {
  it("a failed vend of an ordinary session does not offer the credit again, in the first session or a later one", async () => {
    const h = await harness({ mechanism: new ScriptedMechanism() });
    h.mechanism.outcomes.push(failed, failed);
    await unlock(h, "s-1", 500);
    h.mechanism.select({ selection: "A2" });
    await until(() => h.named("vend-failed").length === 1);
    await h.session.customerDone();
    await unlock(h, "s-2", 300);
    h.mechanism.select({ selection: "A2" });
    await until(() => h.named("vend-failed").length === 2);
    await h.session.customerDone();
    // Single-vend: a failed vend leaves the session open for another choice, with the credit the machine already has.
    expect(h.mechanism.openSessions).toEqual([500, 300]);
    expect(h.mechanism.closeCount).toBe(2);
  });

  it("a held selection that fails twice: the credit is offered once, after the first failure only", async () => {
    const h = await harness({ chooseFirst: "on-machine" });
    h.mechanism.outcomes.push(failed, failed);
    h.mechanism.select(cola);
    await until(() => h.session.view().pendingSelection !== undefined);
    await unlock(h, "s-3", 200);
    await until(() => h.named("vend-failed").length === 1 && h.mechanism.openSessions.length === 2);
    h.mechanism.select({ selection: "A2" });
    await until(() => h.named("vend-failed").length === 2);
    await h.session.customerDone();
    expect(h.mechanism.openSessions).toEqual([200, 200]);
    expect(h.named("session-ended")[0]?.payload).toMatchObject({ reason: "customer-done", vendedTotalMinor: 0 });
  });

  it("a held selection the catalog no longer sells at the unlock: denied, and the paid budget offered as credit", async () => {
    const h = await harness({ chooseFirst: "on-machine" });
    h.mechanism.select(cola);
    await until(() => h.session.view().pendingSelection !== undefined);
    const withoutCola: Catalog = { currency: "EUR", products: { A1: testCatalog.products.A1 as never } };
    // The catalog changes while the unlock is being journaled (the hold is already taken over by then).
    onCommit(h.journal, "unlock", () => {
      expect(h.session.setCatalog(withoutCola)).toBeUndefined();
    });
    await unlock(h, "s-4", 200);
    expect(h.mechanism.denials).toEqual([{ selection: "x", reason: "selection x is not in the catalog" }]);
    expect(h.mechanism.openSessions).toEqual([200, 200]);
    expect(h.mechanism.vends).toEqual([]);
    expect(h.journal.state.session).toMatchObject({ sessionId: "s-4", spentMinor: 0 });
  });

  it("the held selection cannot be approved (journal write fails): the machine is told 'internal error', nothing vended", async () => {
    const h = await harness({ chooseFirst: "on-machine" });
    h.mechanism.select(cola);
    await until(() => h.session.view().pendingSelection !== undefined);
    onCommit(h.journal, "vend-approved", () => {
      throw new Error("EIO");
    });
    await expect(unlock(h, "s-5", 200)).rejects.toThrow("EIO");
    expect(h.mechanism.denials).toEqual([{ selection: "x", reason: "internal error" }]);
    expect(h.mechanism.vends).toEqual([]);
    expect(h.mechanism.openSessions).toEqual([200]);
  });

  it("the credit cannot be offered after a failed held vend: a fault (in service), the session ends as fault", async () => {
    const mechanism = new ScriptedMechanism();
    mechanism.failOpenAt = [2];
    const log = capturingLogger();
    const h = await harness({ chooseFirst: "on-machine", mechanism, logger: log.logger });
    h.mechanism.outcomes.push(failed);
    h.mechanism.select(cola);
    await until(() => h.session.view().pendingSelection !== undefined);
    await unlock(h, "s-6", 200);
    await until(() => h.named("session-ended").length === 1);
    expect(h.named("fault").map((event) => event.payload)).toEqual([
      expect.objectContaining({ code: "session-open-failed", message: "begin session refused", outOfService: false }),
    ]);
    expect(h.named("session-ended")[0]?.payload).toMatchObject({ reason: "fault" });
    expect(h.session.serviceStatus().inService).toBe(true);
    const logged = log.find("the mechanism could not offer the session's credit");
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ level: "error", err: { message: "begin session refused" } });
  });

  it("a session the customer asked to end while its vend result could not be journaled takes no more selections", async () => {
    const h = await harness({ mode: "multi-vend" });
    h.mechanism.vendMs = 100;
    await unlock(h, "s-7", 1_000);
    onCommit(h.journal, "vend-result", () => {
      throw new Error("EIO");
    });
    h.mechanism.select({ selection: "A1" });
    await until(() => h.mechanism.vends.length === 1);
    await h.session.customerDone();
    await until(() => h.session.displayState().screen !== "dispensing");
    h.mechanism.select({ selection: "A1" });
    await until(() => h.mechanism.denials.length === 1);
    expect(h.mechanism.denials).toEqual([{ selection: "A1", reason: "the session is ending" }]);
    expect(h.mechanism.vends).toHaveLength(1);
  });

  it("a failed vend counts as not delivered on the end screen", async () => {
    const h = await harness();
    h.mechanism.outcomes.push(failed);
    await unlock(h, "s-8", 500);
    h.mechanism.select({ selection: "A2" });
    await until(() => h.named("vend-failed").length === 1);
    await h.session.customerDone();
    expect(h.session.displayState()).toEqual({ screen: "vend-failed" });
  });

  it("a hold with exactly the approval margin left is still vended", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const h = await harness({ chooseFirst: "on-machine" });
    h.mechanism.select({ ...cola, answerBy: Date.now() + 2_000 });
    await until(() => h.session.view().pendingSelection !== undefined);
    await unlock(h, "s-9", 200);
    await until(() => h.named("session-ended").length === 1);
    expect(h.mechanism.vends).toEqual([{ selection: "A2", priceMinor: 200 }]);
    expect(h.mechanism.denials).toEqual([]);
  });
});

describe("ending a session or a payment", () => {
  it("the machine closing the session (customer pressed cancel there) ends it as customer-done", async () => {
    const h = await harness({ mode: "multi-vend" });
    await unlock(h, "s-10", 500);
    h.mechanism.emit("sessionClosedByMachine", "cancel pressed");
    await until(() => h.named("session-ended").length === 1);
    expect(h.named("session-ended")[0]?.payload).toMatchObject({ sessionId: "s-10", reason: "customer-done" });
  });

  it.each([
    { command: "payment-timeout", reason: "payment-timeout", why: "payment-timeout" },
    { command: "customer-cancelled", reason: "cancelled", why: "payment-cancelled" },
  ] as const)(
    "a pending payment cancelled ($command): reason $reason, the not-charged screen says $why",
    async (the) => {
      const h = await harness();
      await paymentPending(h, "s-11", 200);
      await cancel(h, "s-11", the.command);
      expect(h.named("session-ended")[0]?.payload).toMatchObject({ sessionId: "s-11", reason: the.reason });
      expect(h.session.displayState()).toEqual({ screen: "not-charged", why: the.why });
    },
  );

  it("a payment timer that fires while a newer payment is admitted leaves the newer payment and the held selection", async () => {
    const mechanism = new ScriptedMechanism();
    const h = await harness({ chooseFirst: "on-machine", mechanism, timings: { paymentPendingTimeoutMs: 80 } });
    h.mechanism.select(cola);
    await until(() => h.session.view().pendingSelection !== undefined);
    await paymentPending(h, "s-13", 200);
    // Hold the session's queue (a denial the machine is slow to take), queue the newer payment behind it, and let
    // the older payment's timer fire meanwhile: its step runs after the newer payment was admitted.
    const held = gate();
    mechanism.denyGate = held.closed;
    h.mechanism.select({ selection: "A1" });
    await until(() => h.mechanism.denials.length === 1);
    const newer = paymentPending(h, "s-14", 200);
    await sleep(150);
    mechanism.denyGate = null;
    held.open();
    await newer;
    await h.session.customerDone(); // a step after the timer's
    expect(h.journal.state.pending).toMatchObject({ sessionId: "s-14" });
    expect(h.named("session-ended").map((event) => event.payload)).toEqual([
      expect.objectContaining({ sessionId: "s-13", reason: "cancelled" }),
    ]);
    expect(h.session.view().pendingSelection).toMatchObject({ selection: "A2" });
    expect(h.mechanism.denials).toHaveLength(1);
  });

  it("setCatalog while a selection is held is refused with the reason", async () => {
    const h = await harness({ chooseFirst: "on-machine" });
    h.mechanism.select(cola);
    await until(() => h.session.view().pendingSelection !== undefined);
    expect(h.session.setCatalog(testCatalog)).toEqual({
      reason: "busy",
      detail: "a selection is held for payment; prices change after it",
    });
  });

  it("the machine's withdrawal of another request or another selection leaves the held selection", async () => {
    const h = await harness({ chooseFirst: "on-machine" });
    h.mechanism.select(cola);
    await until(() => h.session.view().pendingSelection !== undefined);
    h.mechanism.emit("selectionWithdrawn", { selection: "x", requestId: 8, reason: "other request" });
    h.mechanism.emit("selectionWithdrawn", { selection: "y", requestId: 7, reason: "other selection" });
    await h.session.customerDone(); // a step after both
    expect(h.session.view().pendingSelection).toMatchObject({ selection: "A2" });
    h.mechanism.emit("selectionWithdrawn", { selection: "x", requestId: 7, reason: "vend cancelled" });
    await until(() => h.session.view().pendingSelection === undefined);
  });
});

describe("timers", () => {
  it("the selection timer's step queued during the approval does not end the session while the motor turns", async () => {
    const h = await harness({ timings: { selectionTimeoutMs: 5 } });
    onCommit(h.journal, "vend-approved", () => sleep(40)); // the timer fires during the journal write
    await unlock(h, "s-15", 500);
    h.mechanism.select({ selection: "A2" });
    await until(() => h.named("session-ended").length === 1);
    expect(h.named("session-ended")[0]?.payload).toMatchObject({ reason: "single-vend-done", vendedCount: 1 });
    expect(h.events.map((event) => event.name)).toEqual(["unlocked", "vend-started", "vended", "session-ended"]);
  });

  it("a selection timer that fired while the agent is stopping leaves the session to end as shutdown", async () => {
    const mechanism = new ScriptedMechanism();
    const h = await harness({ mechanism, mode: "multi-vend", timings: { selectionTimeoutMs: 50 } });
    await unlock(h, "s-16", 500);
    const held = gate();
    mechanism.denyGate = held.closed;
    h.mechanism.select({ selection: "Z9" }); // not in the catalog: denied, the machine slow to take it
    await until(() => h.mechanism.denials.length === 1);
    await sleep(120); // the selection timer fires; its step waits behind the denial
    const stopped = h.session.stop(0);
    mechanism.denyGate = null;
    held.open();
    await stopped;
    expect(h.named("session-ended").map((event) => event.payload)).toEqual([
      expect.objectContaining({ sessionId: "s-16", reason: "shutdown" }),
    ]);
  });

  it("re-arming the selection timer replaces the old one: the session lasts the full time after the last vend", async () => {
    const clock = new ManualClock();
    const h = await harness({ mode: "multi-vend", timings: { selectionTimeoutMs: 600 }, clock });
    await unlock(h, "s-17", 1_000);
    await clock.advance(300);
    h.mechanism.select({ selection: "A1" });
    await until(() => h.named("vended").length === 1);
    // 750 ms after the unlock: past the first arming (600), within the one the vend re-armed (900).
    await clock.advance(450);
    expect(h.named("session-ended")).toHaveLength(0);
    expect(h.journal.state.session).toMatchObject({ sessionId: "s-17" });
    await clock.advance(200);
    await until(() => h.named("session-ended").length === 1);
  });

  it("an end screen replaced by a later one stays for its full time", async () => {
    const clock = new ManualClock();
    const h = await harness({ timings: { endScreenMs: 600 }, clock });
    await paymentPending(h, "s-18", 200);
    await h.session.customerCancel(); // not-charged, until 600
    await clock.advance(300);
    await unlock(h, "s-19", 500);
    h.mechanism.select({ selection: "A1" });
    await until(() => h.named("session-ended").length === 2); // thank-you, until 300 + 600
    await clock.advance(450); // 750: the first screen's timer would have ended it at 600
    expect(h.session.displayState()).toMatchObject({ screen: "thank-you", vendedTotalMinor: 150 });
  });

  it("stop() clears the payment timer: the pending payment stays for the restart", async () => {
    const clock = new ManualClock();
    const h = await harness({ timings: { paymentPendingTimeoutMs: 150 }, clock });
    await paymentPending(h, "s-20", 200);
    await h.session.stop(0);
    await clock.advance(300);
    expect(h.journal.state.pending).toMatchObject({ sessionId: "s-20" });
    expect(h.named("session-ended")).toHaveLength(0);
  });

  it("while stopping, the choose screen counts down from now, not from the last selection timer", async () => {
    const clock = new ManualClock();
    const h = await harness({ mode: "multi-vend", clock });
    await unlock(h, "s-21", 500);
    await clock.advance(60);
    const before = clock.now();
    const stopped = h.session.stop(0);
    expect(h.session.displayState()).toMatchObject({ screen: "choose-product" });
    const shown = h.session.displayState() as { deadline: number };
    expect(shown.deadline).toBeGreaterThanOrEqual(before + 60_000);
    await stopped;
  });
});

describe("what the operator reads in the log", () => {
  it("Done on the screen: logged with its reason; without a session nothing is logged", async () => {
    const log = capturingLogger();
    const h = await harness({ logger: log.logger });
    await h.session.customerDone();
    expect(log.find("the customer ended the session at the machine")).toEqual([]);
    await unlock(h, "s-22", 500);
    await h.session.customerDone();
    expect(log.find("the customer ended the session at the machine")).toEqual([
      expect.objectContaining({ reason: "customer pressed done on the screen" }),
    ]);
  });

  it("selection first: the hold, the vend of the selection paid for, a held selection released", async () => {
    const log = capturingLogger();
    const h = await harness({ chooseFirst: "on-machine", logger: log.logger });
    h.mechanism.select({ ...cola, answerBy: Date.now() + 30_000 });
    await until(() => h.session.view().pendingSelection !== undefined);
    expect(log.find("selection first: waiting for the customer to pay this price")).toEqual([
      expect.objectContaining({ selection: "A2", priceMinor: 200, expiresAt: expect.any(Number) }),
    ]);
    await unlock(h, "s-23", 200);
    expect(log.find("vending the selection paid for")).toEqual([
      expect.objectContaining({ selection: "A2", priceMinor: 200 }),
    ]);
    await until(() => h.named("session-ended").length === 1);
    h.mechanism.select({ ...cola, requestId: 9 });
    await until(() => h.session.view().pendingSelection !== undefined);
    await h.session.customerCancel();
    expect(log.find("held selection released")).toEqual([
      expect.objectContaining({ selection: "A2", reason: "the customer cancelled the selection" }),
    ]);
    h.mechanism.select({ ...cola, requestId: 10 });
    await until(() => h.session.view().pendingSelection !== undefined);
    h.mechanism.emit("selectionWithdrawn", { selection: "x", requestId: 10, reason: "vend cancelled" });
    await until(() => h.session.view().pendingSelection === undefined);
    expect(log.find("the machine gave up the held selection")).toEqual([
      expect.objectContaining({ selection: "A2", reason: "vend cancelled" }),
    ]);
  });

  it("a payment no longer pending is logged with its session and reason", async () => {
    const log = capturingLogger();
    const h = await harness({ logger: log.logger });
    await paymentPending(h, "s-24", 200);
    await cancel(h, "s-24", "payment-timeout");
    expect(log.find("payment no longer pending")).toEqual([
      expect.objectContaining({ sessionId: "s-24", reason: "payment-timeout" }),
    ]);
  });

  it("a fault is logged as an error with its code; the way back in service is logged with the code", async () => {
    const log = capturingLogger();
    const h = await harness({ logger: log.logger });
    h.mechanism.emit("fault", { code: "coin-jam", message: "the coin mech jammed", outOfService: true });
    await until(() => h.named("fault").length === 1);
    expect(log.find("the coin mech jammed")).toEqual([
      expect.objectContaining({ level: "error", code: "coin-jam", outOfService: true }),
    ]);
    h.mechanism.emit("link", "up");
    await until(() => h.named("in-service").length === 1);
    expect(log.find("the vend mechanism is back: in service again")).toEqual([
      expect.objectContaining({ level: "info", code: "coin-jam" }),
    ]);
  });

  it("the mechanism's link going down on a graceful stop is logged as info with its detail, not as a fault", async () => {
    const log = capturingLogger();
    const h = await harness({ logger: log.logger });
    await h.session.stop(0);
    h.mechanism.emit("link", "down", "port closed");
    await h.session.customerDone(); // a step after the link's
    expect(log.find("vend mechanism stopped")).toEqual([
      expect.objectContaining({ level: "info", detail: "port closed" }),
    ]);
    expect(h.named("fault")).toEqual([]);
  });

  it("a fault that ended while the agent was stopping is still reported as gone (in-service)", async () => {
    const h = await harness();
    h.mechanism.emit("fault", { code: "coin-jam", message: "the coin mech jammed", outOfService: true });
    await until(() => h.named("fault").length === 1);
    await h.session.stop(0);
    h.mechanism.emit("link", "up");
    await until(() => h.named("in-service").length === 1);
  });

  it("the machine refusing a denial, a held selection's release or the session's close is logged as a warning", async () => {
    const mechanism = new ScriptedMechanism();
    mechanism.failDeny = true;
    mechanism.failClose = true;
    const log = capturingLogger();
    const h = await harness({ chooseFirst: "on-machine", mechanism, logger: log.logger });
    const warnings = () => log.find("the mechanism did not take the denial");
    h.mechanism.select({ selection: "A1" }); // no session: denied
    await until(() => warnings().length === 1);
    h.mechanism.select(cola);
    await until(() => h.session.view().pendingSelection !== undefined);
    await h.session.customerCancel(); // the held selection is released with a denial
    expect(warnings()).toHaveLength(2);
    for (const warning of warnings()) {
      expect(warning).toMatchObject({ level: "warn", err: { message: "serial port gone" } });
    }
    await unlock(h, "s-25", 500);
    await h.session.customerDone();
    expect(h.named("session-ended")).toHaveLength(1);
    expect(log.find("the mechanism did not close the session")).toEqual([
      expect.objectContaining({ level: "warn", err: expect.objectContaining({ message: "close refused" }) }),
    ]);
  });

  it("a failed session step is logged as an error with its cause", async () => {
    const log = capturingLogger();
    const h = await harness({ logger: log.logger });
    onCommit(h.journal, "unlock", () => {
      throw new Error("EIO on unlock");
    });
    await expect(unlock(h, "s-26", 500)).rejects.toThrow("EIO on unlock");
    expect(log.find("session step failed")).toEqual([
      expect.objectContaining({ level: "error", err: expect.objectContaining({ message: "EIO on unlock" }) }),
    ]);
  });
});
