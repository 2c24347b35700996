import { afterEach, describe, expect, it, vi } from "vitest";
import { eventSchemas } from "../../protocol/messages.ts";
import { envelope, openSessionHarness, type SessionHarness, until } from "./helpers/session-harness.ts";

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

describe("vend session", () => {
  it("single-vend: unlock, one vend, session ends with the vended total; every event matches the contract", async () => {
    const h = await harness();
    const { payload, seen } = unlockPayload("s-1", 500);
    expect(await h.session.unlock(payload, seen)).toBeUndefined();
    expect(h.mechanism.openSessions).toEqual([500]);
    h.mechanism.select({ selection: "A2" });
    await until(() => h.named("session-ended").length === 1);
    expect(h.mechanism.vends).toEqual([{ selection: "A2", priceMinor: 200 }]);
    expect(h.events.map((event) => event.name)).toEqual(["unlocked", "vend-started", "vended", "session-ended"]);
    const ended = h.named("session-ended")[0]?.payload;
    expect(ended).toMatchObject({ reason: "single-vend-done", vendedCount: 1, vendedTotalMinor: 200, unknownCount: 0 });
    for (const event of h.events) expect(eventSchemas[event.name].safeParse(event.payload).success).toBe(true);
    const seqs = h.events.map((event) => event.payload.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(h.journal.state.session).toBeNull();
    expect(h.mechanism.closeCount).toBe(1);
  });

  it("multi-vend: approves within the remaining budget, denies above it, ends when the budget is spent", async () => {
    const h = await harness({ mode: "multi-vend" });
    const { payload, seen } = unlockPayload("s-2", 400);
    await h.session.unlock(payload, seen);
    h.mechanism.select({ selection: "A2" }); // 200, remaining 200
    await until(() => h.named("vended").length === 1);
    h.mechanism.select({ selection: "A2" }); // 200, remaining 0 -> budget spent
    await until(() => h.named("session-ended").length === 1);
    expect(h.named("session-ended")[0]?.payload).toMatchObject({ reason: "budget-spent", vendedTotalMinor: 400 });

    const second = unlockPayload("s-3", 350);
    await h.session.unlock(second.payload, second.seen);
    h.mechanism.select({ selection: "A2" }); // 200 of 350; 150 left, still enough for the cheapest (120)
    await until(() => h.named("vended").length === 3);
    h.mechanism.select({ selection: "A2" }); // 200 > remaining 150: denied, session goes on
    await until(() => h.mechanism.denials.length === 1);
    expect(h.mechanism.denials[0]?.reason).toMatch(/above the remaining budget 150/);
    expect(h.mechanism.vends).toHaveLength(3);
    expect(h.journal.state.session?.sessionId).toBe("s-3");
  });

  it("MDB: a machine price above the catalog price is denied; a lower one is billed as asked", async () => {
    const h = await harness({ mode: "multi-vend" });
    const { payload, seen } = unlockPayload("s-4", 1000);
    await h.session.unlock(payload, seen);
    h.mechanism.select({ selection: "x", mdbItem: 11, priceMinor: 160 }); // catalog A1 = 150
    await until(() => h.mechanism.denials.length === 1);
    expect(h.mechanism.denials[0]?.reason).toMatch(/above the catalog price 150/);
    h.mechanism.select({ selection: "x", mdbItem: 11, priceMinor: 140 });
    await until(() => h.named("vended").length === 1);
    expect(h.named("vended")[0]?.payload).toMatchObject({ selection: "A1", priceMinor: 140, sku: "WATER" });
  });

  it("a failed vend is not billed and the customer may choose again; an unknown one counts against the budget", async () => {
    const h = await harness({ mode: "multi-vend" });
    h.mechanism.outcomes.push(
      { outcome: "not-delivered", evidence: "vend-failure" },
      { outcome: "unknown", evidence: "link-lost" },
    );
    const { payload, seen } = unlockPayload("s-5", 300);
    await h.session.unlock(payload, seen);
    h.mechanism.select({ selection: "A1" });
    await until(() => h.named("vend-failed").length === 1);
    h.mechanism.select({ selection: "A1" });
    await until(() => h.named("vend-unknown").length === 1);
    expect(h.journal.state.session).toMatchObject({ spentMinor: 150, vendedTotalMinor: 0, unknownCount: 1 });
    h.mechanism.select({ selection: "A2" }); // 200 > 150 left
    await until(() => h.mechanism.denials.length === 1);
  });

  it("selection idle timeout ends the session", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    const h = await harness();
    const { payload, seen } = unlockPayload("s-6", 500);
    await h.session.unlock(payload, seen);
    await vi.advanceTimersByTimeAsync(59_000);
    expect(h.named("session-ended")).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(2_000);
    vi.useRealTimers();
    await until(() => h.named("session-ended").length === 1);
    expect(h.named("session-ended")[0]?.payload).toMatchObject({ reason: "idle-timeout", vendedCount: 0 });
  });

  it("cancel during a vend lets the vend finish (billed) and then ends the session", async () => {
    const h = await harness({ mode: "multi-vend" });
    h.mechanism.vendMs = 150;
    const { payload, seen } = unlockPayload("s-7", 500);
    await h.session.unlock(payload, seen);
    h.mechanism.select({ selection: "A1" });
    await until(() => h.named("vend-started").length === 1);
    const env = envelope();
    expect(await h.session.cancel({ ...env, signature, sessionId: "s-7", reason: "operator" }, env)).toBeUndefined();
    await until(() => h.named("session-ended").length === 1);
    expect(h.named("session-ended")[0]?.payload).toMatchObject({ reason: "cancelled", vendedCount: 1 });
    const other = envelope();
    expect(await h.session.cancel({ ...other, signature, sessionId: "nope", reason: "operator" }, other)).toMatchObject(
      {
        reason: "unknown-session",
      },
    );
  });

  it("a second unlock while a session is open is refused as busy; a hardware fault puts the machine out of service", async () => {
    const h = await harness();
    const first = unlockPayload("s-8", 500);
    await h.session.unlock(first.payload, first.seen);
    const second = unlockPayload("s-9", 500);
    expect(await h.session.unlock(second.payload, second.seen)).toMatchObject({ reason: "busy" });
    h.mechanism.emit("fault", { code: "jam", message: "motor jammed", outOfService: true });
    await until(() => h.named("session-ended").length === 1);
    expect(h.named("session-ended")[0]?.payload).toMatchObject({ reason: "fault" });
    expect(h.named("fault")[0]?.payload).toMatchObject({ code: "jam", outOfService: true, sessionId: "s-8" });
    expect(h.session.view().screen).toBe("out-of-service");
    const third = unlockPayload("s-10", 500);
    expect(await h.session.unlock(third.payload, third.seen)).toMatchObject({ reason: "out-of-service" });
    h.mechanism.emit("link", "up");
    await until(() => h.session.view().screen !== "out-of-service");
    expect(await h.session.unlock(third.payload, third.seen)).toBeUndefined();
  });

  it("recovery: a vend in flight at a crash becomes unknown, is reported and is never vended again", async () => {
    const h = await harness();
    h.mechanism.vendMs = 60_000; // the "power cut" comes while the motor turns
    const { payload, seen } = unlockPayload("s-11", 500);
    await h.session.unlock(payload, seen);
    h.mechanism.select({ selection: "A1" });
    await until(() => h.named("vend-started").length === 1);
    const started = h.named("vend-started")[0];
    const vendId = started?.name === "vend-started" ? started.payload.vendId : undefined;
    expect(vendId).toBeDefined();
    const after = await h.reopen(); // same data dir, a new process' view
    harnesses.push(after);
    await after.session.recover();
    expect(after.named("vend-unknown")[0]?.payload).toMatchObject({
      vendId,
      evidence: "restart",
      priceMinor: 150,
      detail: "the agent restarted while this vend was in flight; it is not repeated",
    });
    expect(after.named("session-ended")[0]?.payload).toMatchObject({
      reason: "fault",
      unknownCount: 1,
      vendedCount: 0,
    });
    expect(after.mechanism.vends).toHaveLength(0);
    // The unacknowledged events of before the crash are still in the outbox, to be resent.
    expect([...after.journal.state.outbox.values()].map((event) => event.name)).toEqual([
      "unlocked",
      "vend-started",
      "vend-unknown",
      "session-ended",
    ]);
  });

  it("the customer's Done on the screen ends a multi-vend session and bills what was vended", async () => {
    const h = await harness();
    const { payload, seen } = unlockPayload("s-done", 1000, "multi-vend");
    await h.session.unlock(payload, seen);
    h.mechanism.select({ selection: "A1" });
    await until(() => h.named("vended").length === 1);
    expect(h.session.displayState()).toMatchObject({ screen: "choose-product", budgetLeftMinor: 850, currency: "EUR" });
    await h.session.customerDone();
    await until(() => h.named("session-ended").length === 1);
    expect(h.named("session-ended")[0]?.payload).toMatchObject({
      reason: "customer-done",
      vendedCount: 1,
      vendedTotalMinor: 150,
    });
    expect(h.session.displayState()).toEqual({ screen: "thank-you", vendedTotalMinor: 150, currency: "EUR" });
  });

  it("a selection with no unlocked session (idle, or payment not confirmed yet) is denied: nothing vends, nothing is billed", async () => {
    const h = await harness();
    h.mechanism.select({ selection: "A1" });
    await until(() => h.mechanism.denials.length === 1);
    const env = envelope();
    await h.session.paymentPending({ ...env, signature, sessionId: "p-1", amountMinor: 500, currency: "EUR" }, env);
    h.mechanism.select({ selection: "A2" });
    await until(() => h.mechanism.denials.length === 2);
    expect(h.mechanism.denials.map((denial) => denial.reason)).toEqual(["no open session", "no open session"]);
    expect(h.mechanism.vends).toEqual([]);
    expect(h.events.filter((event) => event.name !== "session-ended").map((event) => event.name)).toEqual([]);
    expect(h.session.view().screen).toBe("payment-pending");
  });

  it("payment-pending times out into session-ended(payment-timeout); unlock for it clears it", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    const h = await harness();
    const env = envelope();
    await h.session.paymentPending({ ...env, signature, sessionId: "p-1", amountMinor: 500, currency: "EUR" }, env);
    expect(h.session.view().screen).toBe("payment-pending");
    await vi.advanceTimersByTimeAsync(181_000);
    vi.useRealTimers();
    await until(() => h.named("session-ended").length === 1);
    expect(h.named("session-ended")[0]?.payload).toMatchObject({ sessionId: "p-1", reason: "payment-timeout" });
    const env2 = envelope();
    await h.session.paymentPending({ ...env2, signature, sessionId: "p-2", amountMinor: 500, currency: "EUR" }, env2);
    const { payload, seen } = unlockPayload("p-2", 500);
    await h.session.unlock(payload, seen);
    expect(h.journal.state.pending).toBeNull();
    expect(h.session.view().screen).toBe("choose-product");
  });

  it("refuses an unlock or payment-pending for a session it already ended (payment timeout), also after a restart", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    const h = await harness();
    const env = envelope();
    await h.session.paymentPending({ ...env, signature, sessionId: "late-1", amountMinor: 500, currency: "EUR" }, env);
    await vi.advanceTimersByTimeAsync(181_000);
    vi.useRealTimers();
    await until(() => h.named("session-ended").length === 1);
    expect(h.named("session-ended")[0]?.payload).toMatchObject({ sessionId: "late-1", reason: "payment-timeout" });
    // The bridge had already moved to reserved: its unlock arrives after our session-ended.
    const late = unlockPayload("late-1", 500);
    expect(await h.session.unlock(late.payload, late.seen)).toMatchObject({
      reason: "unknown-session",
      detail: expect.stringMatching(/already ended/),
    });
    const again = envelope();
    expect(
      await h.session.paymentPending(
        { ...again, signature, sessionId: "late-1", amountMinor: 500, currency: "EUR" },
        again,
      ),
    ).toMatchObject({ reason: "unknown-session" });
    expect(h.journal.state.session).toBeNull();
    expect(h.journal.state.pending).toBeNull();
    expect(h.mechanism.openSessions).toEqual([]);
    // A session that ran and ended normally is closed too; the memory survives a restart (journal compaction).
    const normal = unlockPayload("done-1", 500);
    expect(await h.session.unlock(normal.payload, normal.seen)).toBeUndefined();
    h.mechanism.select({ selection: "A1" });
    await until(() => h.named("session-ended").length === 2);
    const after = await h.reopen();
    harnesses.push(after);
    await after.session.recover();
    for (const sessionId of ["late-1", "done-1"]) {
      const retry = unlockPayload(sessionId, 500);
      expect(await after.session.unlock(retry.payload, retry.seen)).toMatchObject({ reason: "unknown-session" });
    }
    expect(after.mechanism.openSessions).toEqual([]);
    const fresh = unlockPayload("fresh-1", 500);
    expect(await after.session.unlock(fresh.payload, fresh.seen)).toBeUndefined();
  });

  it("graceful stop waits at most waitForVendMs for a vend that never ends: unknown, never re-vended, session ends with shutdown", async () => {
    const h = await harness();
    h.mechanism.vend = (selection: string, priceMinor: number) => {
      h.mechanism.vends.push({ selection, priceMinor });
      return new Promise(() => undefined); // the motor never reports back
    };
    const { payload, seen } = unlockPayload("stop-1", 500);
    await h.session.unlock(payload, seen);
    h.mechanism.select({ selection: "A1" });
    await until(() => h.named("vend-started").length === 1);
    const started = Date.now();
    await h.session.stop(200);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(h.named("vend-unknown")[0]?.payload).toMatchObject({
      sessionId: "stop-1",
      priceMinor: 150,
      evidence: "none",
    });
    expect(h.named("session-ended")[0]?.payload).toMatchObject({
      sessionId: "stop-1",
      reason: "shutdown",
      unknownCount: 1,
      vendedCount: 0,
    });
    expect(h.journal.state.session).toBeNull();
    expect(h.mechanism.vends).toHaveLength(1);
    const after = await h.reopen();
    harnesses.push(after);
    await after.session.recover();
    expect(after.mechanism.vends).toHaveLength(0);
    expect(after.named("vend-unknown")).toHaveLength(0);
  }, 5_000);
});

describe("back in service (issue 15 defect 1: no out-of-service flag outlives its cause)", () => {
  it("the reader disabled then enabled again: fault {outOfService} then in-service with the fault's code", async () => {
    const h = await harness();
    expect(h.session.serviceStatus()).toEqual({ inService: true, outOfService: null });
    h.mechanism.emit("link", "down", "the VMC set the reader DISABLED");
    await until(() => h.named("fault").length === 1);
    expect(h.named("fault")[0]?.payload).toMatchObject({ code: "hardware-link-down", outOfService: true });
    expect(h.session.serviceStatus()).toMatchObject({ inService: false, outOfService: { code: "hardware-link-down" } });
    h.mechanism.emit("link", "up");
    await until(() => h.named("in-service").length === 1);
    const back = h.named("in-service")[0]?.payload;
    expect(eventSchemas["in-service"].parse(back)).toMatchObject({ sessionId: null, code: "hardware-link-down" });
    expect(h.session.serviceStatus()).toEqual({ inService: true, outOfService: null });
    // Durable like every event: it is resent until the backend acknowledges it.
    expect(h.journal.state.outbox.has(back?.eventId ?? "")).toBe(true);
  });

  it("a serial fault then the link back up: in-service once, and none for a fault that did not stop sales", async () => {
    const h = await harness();
    h.mechanism.emit("fault", { code: "display-glitch", message: "display did not answer", outOfService: false });
    await until(() => h.named("fault").length === 1);
    h.mechanism.emit("link", "up");
    h.mechanism.emit("fault", { code: "serial-closed", message: "the adapter went away", outOfService: true });
    await until(() => h.named("fault").length === 2);
    h.mechanism.emit("link", "up");
    h.mechanism.emit("link", "up");
    await until(() => h.named("in-service").length === 1);
    expect(h.named("in-service")[0]?.payload).toMatchObject({ code: "serial-closed" });
    // A later event proves the two extra "up"s were handled: still exactly one in-service.
    h.mechanism.emit("fault", { code: "later", message: "marker", outOfService: false });
    await until(() => h.named("fault").length === 3);
    expect(h.named("in-service")).toHaveLength(1);
  });
});
