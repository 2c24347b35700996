import { afterEach, describe, expect, it, vi } from "vitest";
import {
  capturingLogger,
  envelope,
  openSessionHarness,
  type SessionHarness,
  testCatalog,
  until,
} from "./helpers/session-harness.ts";

/**
 * The vend session's edges that the flow tests do not reach (issue 16, mutation testing): catalog changes between
 * sessions only, what the retained state says in each phase, a mechanism that cannot open the session, and the
 * bounded sizes of what a fault or a vend result reports.
 */

const signature = "0".repeat(64);
const harnesses: SessionHarness[] = [];
async function harness(options: Parameters<typeof openSessionHarness>[0] = {}) {
  const opened = await openSessionHarness(options);
  harnesses.push(opened);
  return opened;
}

afterEach(async () => {
  vi.useRealTimers();
  for (const opened of harnesses.splice(0)) await opened.close();
});

function unlockPayload(sessionId: string, budgetMinor: number, mode?: "single-vend" | "multi-vend") {
  const env = envelope();
  return {
    payload: { ...env, sessionId, budgetMinor, currency: "EUR", signature, ...(mode ? { mode } : {}) },
    seen: env,
  };
}

function pendingPayload(sessionId: string, amountMinor: number) {
  const env = envelope();
  return { payload: { ...env, sessionId, amountMinor, currency: "EUR", signature }, seen: env };
}

const cheaper = {
  currency: "EUR",
  products: { A2: { name: "Cola", sku: "COLA", priceMinor: 180, mdbItem: 12 } },
};

describe("vend session edges", () => {
  it("takes a new catalog only between sessions: refused as busy while a payment is pending or a session is open", async () => {
    const h = await harness({ mode: "multi-vend" });
    const pending = pendingPayload("p-1", 500);
    await h.session.paymentPending(pending.payload, pending.seen);
    const busy = { reason: "busy", detail: "a session is open; prices change between sessions" };
    expect(h.session.setCatalog(cheaper)).toEqual(busy);
    const { payload, seen } = unlockPayload("p-1", 500);
    await h.session.unlock(payload, seen);
    expect(h.session.setCatalog(cheaper)).toEqual(busy);
    expect(h.session.catalog).toBe(testCatalog);
    h.mechanism.select({ selection: "A2" });
    await until(() => h.named("vended").length === 1);
    expect(h.named("vended")[0]?.payload).toMatchObject({ priceMinor: 200 });
    await h.session.customerDone();
    await until(() => h.named("session-ended").length === 1);

    expect(h.session.setCatalog(cheaper)).toBeUndefined();
    expect(h.session.catalog).toBe(cheaper);
    const next = unlockPayload("s-2", 500);
    await h.session.unlock(next.payload, next.seen);
    h.mechanism.select({ selection: "A2" });
    await until(() => h.named("vended").length === 2);
    expect(h.named("vended")[1]?.payload).toMatchObject({ priceMinor: 180 });
  });

  it("the retained state names the phase: payment-pending with its amount, unlocked, vending", async () => {
    const h = await harness({ mode: "multi-vend" });
    h.mechanism.vendMs = 300;
    const pending = pendingPayload("s-1", 450);
    await h.session.paymentPending(pending.payload, pending.seen);
    expect(h.session.view().session).toEqual({
      sessionId: "s-1",
      phase: "payment-pending",
      budgetMinor: 450,
      spentMinor: 0,
      currency: "EUR",
    });
    const { payload, seen } = unlockPayload("s-1", 450);
    await h.session.unlock(payload, seen);
    expect(h.session.view().session).toEqual({
      sessionId: "s-1",
      phase: "unlocked",
      budgetMinor: 450,
      spentMinor: 0,
      currency: "EUR",
    });
    h.mechanism.select({ selection: "A2" });
    await until(() => h.mechanism.vends.length === 1);
    expect(h.session.view().session).toMatchObject({ phase: "vending", spentMinor: 0 });
    expect(h.session.view().screen).toBe("dispensing");
    await until(() => h.named("vended").length === 1);
    await until(() => h.session.view().session?.phase === "unlocked");
    expect(h.session.view().session).toMatchObject({ spentMinor: 200, budgetMinor: 450 });
  });

  it("a mechanism that cannot open the session: a fault (not out of service) and the session ends with fault", async () => {
    const h = await harness();
    h.mechanism.openSession = async () => {
      throw new Error("the reader did not take the budget");
    };
    const { payload, seen } = unlockPayload("s-1", 500);
    expect(await h.session.unlock(payload, seen)).toBeUndefined();
    expect(h.events.map((event) => event.name)).toEqual(["unlocked", "fault", "session-ended"]);
    expect(h.named("fault")[0]?.payload).toMatchObject({
      sessionId: "s-1",
      code: "session-open-failed",
      message: "the reader did not take the budget",
      outOfService: false,
    });
    expect(h.named("session-ended")[0]?.payload).toMatchObject({ reason: "fault", vendedCount: 0 });
    expect(h.journal.state.session).toBeNull();
    expect(h.session.serviceStatus()).toEqual({ inService: true, outOfService: null });
  });

  it("a fault reports at most 64 characters of code and 300 of message, in the event and the retained state", async () => {
    const h = await harness();
    h.mechanism.emit("fault", { code: "c".repeat(100), message: "m".repeat(400), outOfService: false });
    await until(() => h.named("fault").length === 1);
    const body = h.named("fault")[0]?.payload;
    expect(body).toMatchObject({
      code: "c".repeat(64),
      message: "m".repeat(300),
      outOfService: false,
      sessionId: null,
    });
    expect(h.session.view().lastFault).toMatchObject({ code: "c".repeat(64), message: "m".repeat(300) });
  });

  it("a vend result's detail is kept to 200 characters", async () => {
    const h = await harness({ mode: "multi-vend" });
    h.mechanism.outcomes.push({ outcome: "not-delivered", evidence: "vend-failure", detail: "d".repeat(250) });
    const { payload, seen } = unlockPayload("s-1", 500);
    await h.session.unlock(payload, seen);
    h.mechanism.select({ selection: "A1" });
    await until(() => h.named("vend-failed").length === 1);
    expect(h.named("vend-failed")[0]?.payload).toMatchObject({
      outcome: "not-delivered",
      evidence: "vend-failure",
      detail: "d".repeat(200),
    });
  });
  it("the customer's screen in each phase: payment-pending with its deadline, choose-product, dispensing, out of service", async () => {
    const h = await harness({ mode: "multi-vend" });
    h.mechanism.vendMs = 300;
    const pending = pendingPayload("s-1", 450);
    await h.session.paymentPending(pending.payload, pending.seen);
    const since = h.journal.state.pending?.since ?? 0;
    expect(h.session.displayState()).toEqual({
      screen: "payment-pending",
      amountMinor: 450,
      currency: "EUR",
      deadline: since + 180_000,
    });
    const { payload, seen } = unlockPayload("s-1", 450);
    const before = Date.now();
    await h.session.unlock(payload, seen);
    const after = Date.now();
    const choose = h.session.displayState();
    expect(choose).toMatchObject({ screen: "choose-product", budgetLeftMinor: 450, currency: "EUR" });
    const deadline = choose.screen === "choose-product" ? choose.deadline : 0;
    expect(deadline).toBeGreaterThanOrEqual(before + 60_000);
    expect(deadline).toBeLessThanOrEqual(after + 60_000);
    h.mechanism.select({ selection: "A2" });
    await until(() => h.mechanism.vends.length === 1);
    expect(h.session.displayState()).toEqual({ screen: "dispensing", selection: "A2" });
    await until(() => h.named("vended").length === 1 && h.session.view().session?.phase === "unlocked");
    expect(h.session.displayState()).toMatchObject({ screen: "choose-product", budgetLeftMinor: 250 });
    h.mechanism.emit("fault", { code: "jam", message: "motor jammed", outOfService: true });
    await until(() => h.named("session-ended").length === 1);
    expect(h.session.displayState()).toEqual({ screen: "out-of-service", reason: "motor jammed" });
    expect(h.session.serviceStatus()).toEqual({
      inService: false,
      outOfService: { code: "jam", message: "motor jammed" },
    });
  });

  it("once stopping, the machine is out of service for every new payment", async () => {
    const h = await harness();
    await h.session.stop(0);
    expect(h.session.serviceStatus()).toEqual({
      inService: false,
      outOfService: { code: "stopping", message: "the agent is stopping" },
    });
    const pending = pendingPayload("s-1", 450);
    expect(await h.session.paymentPending(pending.payload, pending.seen)).toEqual({
      reason: "out-of-service",
      detail: "the agent is stopping",
    });
    expect(h.journal.state.pending).toBeNull();
    h.mechanism.select({ selection: "x", mdbItem: 12, priceMinor: 200, sessionless: true });
    await until(() => h.mechanism.denials.length === 1);
    expect(h.mechanism.denials[0]?.reason).toBe("the agent is stopping");
  });
  it("before the hardware reports itself started: the starting screen, not in service, and nothing is sold", async () => {
    const h = await harness({ hardwareStarted: false });
    expect(h.session.view().screen).toBe("starting");
    expect(h.session.displayState()).toEqual({ screen: "starting" });
    expect(h.session.serviceStatus()).toEqual({
      inService: false,
      outOfService: { code: "hardware-not-up", message: "the vend mechanism is not up yet" },
    });
    const { payload, seen } = unlockPayload("s-1", 500);
    expect(await h.session.unlock(payload, seen)).toEqual({
      reason: "out-of-service",
      detail: "the vend mechanism is not up yet",
    });
    h.mechanism.select({ selection: "A2", sessionless: true });
    await until(() => h.mechanism.denials.length === 1);
    expect(h.mechanism.denials[0]?.reason).toBe("the vend mechanism is not up yet");
    h.session.hardwareStarted();
    expect(h.session.serviceStatus()).toEqual({ inService: true, outOfService: null });
  });

  it("the operator's log follows a vend session under module 'session', with its ids and amounts", async () => {
    const { logger, lines } = capturingLogger();
    const h = await harness({ logger });
    const { payload, seen } = unlockPayload("s-1", 500);
    await h.session.unlock(payload, seen);
    h.mechanism.select({ selection: "A2" });
    await until(() => h.named("session-ended").length === 1);
    const vended = h.named("vended")[0];
    const vendId = vended?.name === "vended" ? vended.payload.vendId : undefined;
    expect(vendId).toBeDefined();
    const session = lines.filter((line) => line.module === "session");
    expect(session.map((line) => line.msg)).toEqual(["unlocked", "vend approved", "vend result", "session ended"]);
    expect(session[0]).toMatchObject({ level: "info", sessionId: "s-1", budgetMinor: 500, mode: "single-vend" });
    expect(session[1]).toMatchObject({ vendId, selection: "A2", priceMinor: 200 });
    expect(session[2]).toMatchObject({ vendId, result: "delivered", evidence: "drop-sensor" });
    expect(session[3]).toMatchObject({ sessionId: "s-1", reason: "single-vend-done", vendedTotalMinor: 200 });
  });
  it("while the mechanism is still opening the session, the screen's countdown is a full selection time ahead", async () => {
    const h = await harness();
    let opened: () => void = () => undefined;
    h.mechanism.openSession = () =>
      new Promise<void>((resolve) => {
        opened = resolve;
      });
    const { payload, seen } = unlockPayload("s-1", 500);
    const unlocking = h.session.unlock(payload, seen);
    await until(() => h.journal.state.session !== null);
    const before = Date.now();
    const shown = h.session.displayState();
    expect(shown).toMatchObject({ screen: "choose-product", budgetLeftMinor: 500 });
    expect(shown.screen === "choose-product" ? shown.deadline : 0).toBeGreaterThanOrEqual(before + 60_000);
    opened();
    await unlocking;
  });

  it("the end screen shows until its time, not at it", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const h = await harness({ timings: { endScreenMs: 5_000 } });
    const { payload, seen } = unlockPayload("s-1", 500);
    await h.session.unlock(payload, seen);
    h.mechanism.select({ selection: "A1" });
    await until(() => h.named("session-ended").length === 1);
    const endedAt = Date.now();
    expect(h.session.view().screen).toBe("thank-you");
    vi.setSystemTime(endedAt + 4_999);
    expect(h.session.view().screen).toBe("thank-you");
    vi.setSystemTime(endedAt + 5_000);
    expect(h.session.view().screen).toBe("idle");
  });

  it("commands are remembered as seen with what they changed: payment-pending, and a cancel during a vend", async () => {
    const h = await harness();
    h.mechanism.vendMs = 300;
    const pending = pendingPayload("s-1", 500);
    await h.session.paymentPending(pending.payload, pending.seen);
    expect(h.journal.state.seenCommands.get(pending.seen.commandId)).toBe(pending.seen.expiresAt);
    const { payload, seen } = unlockPayload("s-1", 500);
    await h.session.unlock(payload, seen);
    h.mechanism.select({ selection: "A1" });
    await until(() => h.mechanism.vends.length === 1);
    const env = envelope();
    await h.session.cancel({ ...env, signature, sessionId: "s-1", reason: "customer-cancelled" }, env);
    expect(h.journal.state.seenCommands.get(env.commandId)).toBe(env.expiresAt);
    await until(() => h.named("session-ended").length === 1);
  });

  it("a cancel with no vend turning ends the session at once; a cancel of a session not open here is refused", async () => {
    const h = await harness({ mode: "multi-vend" });
    const { payload, seen } = unlockPayload("s-1", 500);
    await h.session.unlock(payload, seen);
    const env = envelope();
    expect(await h.session.cancel({ ...env, signature, sessionId: "s-1", reason: "customer-cancelled" }, env)).toBe(
      undefined,
    );
    expect(h.named("session-ended")[0]?.payload).toMatchObject({ sessionId: "s-1", reason: "cancelled" });
    expect(h.journal.state.session).toBeNull();
    expect(h.journal.state.seenCommands.get(env.commandId)).toBe(env.expiresAt);
    const other = envelope();
    expect(await h.session.cancel({ ...other, signature, sessionId: "s-9", reason: "operator" }, other)).toEqual({
      reason: "unknown-session",
      detail: "session s-9 is not open here",
    });
  });

  it("a graceful stop lets a vend that finishes within waitForVendMs be delivered and billed", async () => {
    const h = await harness();
    h.mechanism.vendMs = 200;
    const { payload, seen } = unlockPayload("s-1", 500);
    await h.session.unlock(payload, seen);
    h.mechanism.select({ selection: "A1" });
    await until(() => h.mechanism.vends.length === 1);
    await h.session.stop(5_000);
    expect(h.named("vended")).toHaveLength(1);
    expect(h.named("vend-unknown")).toEqual([]);
    expect(h.named("session-ended")[0]?.payload).toMatchObject({ vendedTotalMinor: 150 });
  });

  it("recovery: a vend in flight is reported unknown with why; a pending payment resumes with the time it has left", async () => {
    const h = await harness({ timings: { paymentPendingTimeoutMs: 400 } });
    const pending = pendingPayload("s-1", 500);
    await h.session.paymentPending(pending.payload, pending.seen);
    await h.session.stop(0);
    const after = await h.reopen();
    harnesses.push(after);
    await after.session.recover();
    expect(after.journal.state.pending?.sessionId).toBe("s-1");
    await until(() => after.named("session-ended").length === 1);
    expect(after.named("session-ended")[0]?.payload).toMatchObject({ sessionId: "s-1", reason: "payment-timeout" });
  });

  it("recovery: a pending payment whose time is up at the restart, to the millisecond, is cleared at once", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const h = await harness({ timings: { paymentPendingTimeoutMs: 10_000 } });
    const pending = pendingPayload("s-1", 500);
    await h.session.paymentPending(pending.payload, pending.seen);
    const since = h.journal.state.pending?.since ?? 0;
    await h.session.stop(0);
    const after = await h.reopen();
    harnesses.push(after);
    vi.setSystemTime(since + 10_000);
    await after.session.recover();
    expect(after.journal.state.pending).toBeNull();
    expect(after.named("session-ended")[0]?.payload).toMatchObject({ sessionId: "s-1", reason: "payment-timeout" });
  });
  it("a second selection while the motor turns is denied: one vend at a time", async () => {
    const h = await harness({ mode: "multi-vend" });
    h.mechanism.vendMs = 300;
    const { payload, seen } = unlockPayload("s-1", 1_000);
    await h.session.unlock(payload, seen);
    h.mechanism.select({ selection: "A1" });
    await until(() => h.mechanism.vends.length === 1);
    h.mechanism.select({ selection: "A2" });
    await until(() => h.mechanism.denials.length === 1);
    expect(h.mechanism.denials).toEqual([{ selection: "A2", reason: "a vend is in progress" }]);
    await until(() => h.named("vended").length === 1);
    expect(h.mechanism.vends).toEqual([{ selection: "A1", priceMinor: 150 }]);
  });

  it("a graceful stop before the vend's result: the vend is unknown, saying the agent stopped first", async () => {
    const h = await harness();
    h.mechanism.vendMs = 5_000;
    const { payload, seen } = unlockPayload("s-1", 500);
    await h.session.unlock(payload, seen);
    h.mechanism.select({ selection: "A1" });
    await until(() => h.mechanism.vends.length === 1);
    await h.session.stop(20);
    expect(h.named("vend-unknown")[0]?.payload).toMatchObject({
      evidence: "none",
      detail: "the agent stopped before the vend reported a result",
    });
    expect(h.named("session-ended")[0]?.payload).toMatchObject({ reason: "shutdown", unknownCount: 1 });
  });
  it("the operator's log names each step an operator may look for, with the ids and amounts to trace it", async () => {
    const { logger, lines } = capturingLogger();
    const h = await harness({ logger, mode: "multi-vend" });
    const session = () => lines.filter((line) => line.module === "session");
    const last = () => session().at(-1);

    h.mechanism.select({ selection: "Z9" });
    await until(() => h.mechanism.denials.length === 1);
    expect(last()).toMatchObject({ msg: "selection denied", selection: "Z9", reason: "no open session" });

    const pending = pendingPayload("s-1", 500);
    await h.session.paymentPending(pending.payload, pending.seen);
    await h.session.customerCancel();
    expect(session().find((line) => line.msg === "the customer cancelled the payment at the machine")).toMatchObject({
      sessionId: "s-1",
    });

    h.mechanism.openSession = async () => {
      throw new Error("no reader");
    };
    const failing = unlockPayload("s-2", 500);
    await h.session.unlock(failing.payload, failing.seen);
    expect(session().find((line) => line.msg === "the mechanism could not open the session")).toMatchObject({
      level: "error",
      err: { message: "no reader" },
    });
  });

  it("the operator's log of a stop that waits for a vend, and of a recovery that finds one in flight", async () => {
    const { logger, lines } = capturingLogger();
    const h = await harness({ logger });
    h.mechanism.vendMs = 5_000;
    const { payload, seen } = unlockPayload("s-1", 500);
    await h.session.unlock(payload, seen);
    h.mechanism.select({ selection: "A1" });
    await until(() => h.mechanism.vends.length === 1);
    await h.session.stop(20);
    expect(lines.find((line) => line.msg === "waiting for the vend in progress before stopping")).toMatchObject({
      module: "session",
      waitForVendMs: 20,
    });
    expect(lines.filter((line) => line.msg === "waiting for the vend in progress before stopping")).toHaveLength(1);

    const second = capturingLogger();
    const crashed = await harness({ logger: second.logger });
    crashed.mechanism.vendMs = 5_000;
    const again = unlockPayload("s-2", 500);
    await crashed.session.unlock(again.payload, again.seen);
    crashed.mechanism.select({ selection: "B1" });
    await until(() => crashed.mechanism.vends.length === 1);
    const recovering = capturingLogger();
    await crashed.journal.close();
    const reopened = await openSessionHarness({ dir: crashed.dir, logger: recovering.logger });
    harnesses.push(reopened);
    await reopened.session.recover();
    expect(
      recovering.lines.find((line) => line.msg === "a vend was in flight at the last stop: unknown"),
    ).toMatchObject({ module: "session", level: "warn", selection: "B1" });
    // A stop with nothing turning does not say it waits.
    const idle = capturingLogger();
    const quiet = await harness({ logger: idle.logger });
    await quiet.session.stop(20);
    expect(idle.lines.filter((line) => line.msg === "waiting for the vend in progress before stopping")).toEqual([]);
  });
  it("a vend that reports after a stop parked it as unknown is not recorded again: never billed as vended", async () => {
    const h = await harness();
    h.mechanism.vendMs = 300;
    const { payload, seen } = unlockPayload("s-1", 500);
    await h.session.unlock(payload, seen);
    h.mechanism.select({ selection: "A1" });
    await until(() => h.mechanism.vends.length === 1);
    await h.session.stop(20);
    expect(h.named("vend-unknown")).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(h.named("vended")).toEqual([]);
    expect(h.events.map((event) => event.name)).toEqual(["unlocked", "vend-started", "vend-unknown", "session-ended"]);
  });
  it("the link going down: a fault with a default message when the driver names none, none when the agent stops it", async () => {
    const h = await harness();
    h.mechanism.emit("link", "down");
    await until(() => h.named("fault").length === 1);
    expect(h.named("fault")[0]?.payload).toMatchObject({
      code: "hardware-link-down",
      message: "the vend mechanism's link is down",
      outOfService: true,
    });
    const stopping = await harness();
    await stopping.session.stop(0);
    stopping.mechanism.emit("link", "down", "stopped");
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(stopping.named("fault")).toEqual([]);
  });

  it("after a vend the customer has a new selection time, and the session ends when it runs out", async () => {
    const h = await harness({ mode: "multi-vend", timings: { selectionTimeoutMs: 400 } });
    h.mechanism.vendMs = 300;
    const { payload, seen } = unlockPayload("s-1", 1_000);
    await h.session.unlock(payload, seen);
    h.mechanism.select({ selection: "A1" });
    await until(() => h.named("vended").length === 1);
    expect(h.named("session-ended")).toEqual([]);
    await until(() => h.named("session-ended").length === 1, 3_000, "the idle timeout after the vend");
    expect(h.named("session-ended")[0]?.payload).toMatchObject({ reason: "idle-timeout", vendedTotalMinor: 150 });
  });
  it("Done pressed while the motor turns: the vend finishes and is billed, then the session ends", async () => {
    const h = await harness({ mode: "multi-vend" });
    h.mechanism.vendMs = 300;
    const { payload, seen } = unlockPayload("s-1", 1_000);
    await h.session.unlock(payload, seen);
    h.mechanism.select({ selection: "A1" });
    await until(() => h.mechanism.vends.length === 1);
    await h.session.customerDone();
    expect(h.named("session-ended")).toEqual([]);
    await until(() => h.named("session-ended").length === 1);
    expect(h.events.map((event) => event.name)).toEqual(["unlocked", "vend-started", "vended", "session-ended"]);
    expect(h.named("session-ended")[0]?.payload).toMatchObject({ reason: "customer-done", vendedTotalMinor: 150 });
  });
  it("a fault that does not stop sales leaves the session open; a payment in another currency is refused", async () => {
    const h = await harness({ mode: "multi-vend" });
    const { payload, seen } = unlockPayload("s-1", 1_000);
    await h.session.unlock(payload, seen);
    h.mechanism.emit("fault", { code: "display-glitch", message: "display did not answer", outOfService: false });
    await until(() => h.named("fault").length === 1);
    expect(h.journal.state.session?.sessionId).toBe("s-1");
    expect(h.named("session-ended")).toEqual([]);
    h.mechanism.select({ selection: "A1" });
    await until(() => h.named("vended").length === 1);

    const other = await harness();
    const env = envelope();
    expect(
      await other.session.unlock({ ...env, sessionId: "s-2", budgetMinor: 500, currency: "SEK", signature }, env),
    ).toEqual({ reason: "invalid", detail: "currency SEK is not the catalog's EUR" });
    expect(other.journal.state.session).toBeNull();
  });
  it("an out-of-service fault while the motor turns: the vend finishes and is billed, then the session ends", async () => {
    const h = await harness({ mode: "multi-vend" });
    h.mechanism.vendMs = 300;
    const { payload, seen } = unlockPayload("s-1", 1_000);
    await h.session.unlock(payload, seen);
    h.mechanism.select({ selection: "A1" });
    await until(() => h.mechanism.vends.length === 1);
    h.mechanism.emit("fault", { code: "jam", message: "motor jammed", outOfService: true });
    await until(() => h.named("session-ended").length === 1);
    expect(h.events.map((event) => event.name)).toEqual([
      "unlocked",
      "vend-started",
      "fault",
      "vended",
      "session-ended",
    ]);
    expect(h.named("session-ended")[0]?.payload).toMatchObject({ reason: "fault", vendedTotalMinor: 150 });
  });

  it("a newer payment supersedes a pending one of another session: that one ends cancelled", async () => {
    const h = await harness();
    const first = pendingPayload("p-1", 500);
    await h.session.paymentPending(first.payload, first.seen);
    const second = pendingPayload("p-2", 300);
    expect(await h.session.paymentPending(second.payload, second.seen)).toBeUndefined();
    expect(h.named("session-ended")[0]?.payload).toMatchObject({ sessionId: "p-1", reason: "cancelled" });
    expect(h.journal.state.pending?.sessionId).toBe("p-2");
  });
  it("the end screen counts this session's unknown vends as not delivered, and no other session's", async () => {
    const h = await harness({ mode: "multi-vend", timings: { endScreenMs: 60_000 } });
    h.mechanism.outcomes.push({ outcome: "unknown", evidence: "link-lost" });
    const first = unlockPayload("s-1", 1_000);
    await h.session.unlock(first.payload, first.seen);
    h.mechanism.select({ selection: "A1" });
    await until(() => h.named("vend-unknown").length === 1);
    h.mechanism.select({ selection: "B1" });
    await until(() => h.named("vended").length === 1);
    await h.session.customerDone();
    await until(() => h.named("session-ended").length === 1);
    expect(h.session.displayState()).toEqual({
      screen: "thank-you",
      vendedTotalMinor: 120,
      currency: "EUR",
      notDeliveredCount: 1,
    });
    const second = unlockPayload("s-2", 1_000);
    await h.session.unlock(second.payload, second.seen);
    h.mechanism.select({ selection: "B1" });
    await until(() => h.named("vended").length === 2);
    await h.session.customerDone();
    await until(() => h.named("session-ended").length === 2);
    expect(h.session.displayState()).toEqual({ screen: "thank-you", vendedTotalMinor: 120, currency: "EUR" });
  });

  it("a selection held with no deadline from the machine is held for the selection time", async () => {
    const h = await harness({ chooseFirst: "on-machine" });
    const before = Date.now();
    h.mechanism.select({ selection: "x", mdbItem: 12, priceMinor: 200, requestId: 1, sessionless: true });
    await until(() => h.session.view().pendingSelection !== undefined);
    expect(h.session.view().pendingSelection?.expiresAt).toBeGreaterThanOrEqual(before + 60_000);
  });
  it("when the end screen's time is up the retained state is republished with the idle screen", async () => {
    const screens: string[] = [];
    let session: SessionHarness["session"] | undefined;
    const h = await harness({
      timings: { endScreenMs: 200 },
      onChange: () => {
        if (session) screens.push(session.view().screen);
      },
    });
    session = h.session;
    const { payload, seen } = unlockPayload("s-1", 500);
    await h.session.unlock(payload, seen);
    h.mechanism.select({ selection: "A1" });
    await until(() => h.named("session-ended").length === 1);
    await until(() => screens.at(-1) === "idle", 2_000, "the idle screen republished");
  });

  it("refusals say why: the open session, the fault's code and message; a cancelled pending payment is seen", async () => {
    const h = await harness();
    const { payload, seen } = unlockPayload("s-1", 500);
    await h.session.unlock(payload, seen);
    const again = unlockPayload("s-2", 500);
    expect(await h.session.unlock(again.payload, again.seen)).toEqual({
      reason: "busy",
      detail: "session s-1 is open",
    });
    h.mechanism.emit("fault", { code: "jam", message: "motor jammed", outOfService: true });
    await until(() => h.named("session-ended").length === 1);
    const third = unlockPayload("s-3", 500);
    expect(await h.session.unlock(third.payload, third.seen)).toEqual({
      reason: "out-of-service",
      detail: "jam: motor jammed",
    });

    const other = await harness();
    const pending = pendingPayload("p-1", 500);
    await other.session.paymentPending(pending.payload, pending.seen);
    const env = envelope();
    await other.session.cancel({ ...env, signature, sessionId: "p-1", reason: "customer-cancelled" }, env);
    expect(other.journal.state.seenCommands.get(env.commandId)).toBe(env.expiresAt);
  });
});
