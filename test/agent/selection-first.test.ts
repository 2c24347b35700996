import { afterEach, describe, expect, it, vi } from "vitest";
import { agentConfigSchema } from "../../config/schema/agent.ts";
import { eventSchemas, machineState } from "../../protocol/messages.ts";
import { envelope, openSessionHarness, type SessionHarness, until } from "./helpers/session-harness.ts";

/**
 * Selection first (issue 19, MDB always idle): the customer presses a product before paying, the machine holds the
 * request, the screen asks to pay exactly its price, and the unlock vends that product. Nothing is vended without a
 * journaled session and a journaled approval; a selection the machine gave up is never vended, and nothing is billed.
 */

const signature = "0".repeat(64);
const harnesses: SessionHarness[] = [];
async function harness(options: Parameters<typeof openSessionHarness>[0] = {}) {
  const opened = await openSessionHarness({ chooseFirst: "on-machine", ...options });
  harnesses.push(opened);
  return opened;
}

afterEach(async () => {
  vi.useRealTimers();
  for (const opened of harnesses.splice(0)) await opened.close();
});

function unlock(h: SessionHarness, sessionId: string, budgetMinor: number) {
  const env = envelope();
  return h.session.unlock({ ...env, sessionId, budgetMinor, currency: "EUR", signature }, env);
}

function paymentPending(h: SessionHarness, sessionId: string, amountMinor: number) {
  const env = envelope();
  return h.session.paymentPending({ ...env, sessionId, amountMinor, currency: "EUR", signature }, env);
}

const cola = { selection: "x", mdbItem: 12, priceMinor: 200, requestId: 7, sessionless: true } as const;

describe("selection first at the agent", () => {
  it("holds a session-less selection: the screen asks for its price, the retained state carries it, nothing is journaled", async () => {
    const h = await harness();
    const answerBy = Date.now() + 45_000;
    h.mechanism.select({ ...cola, answerBy });
    await until(() => h.session.view().pendingSelection !== undefined);
    const view = h.session.view();
    expect(view.pendingSelection).toEqual({ selection: "A2", priceMinor: 200, currency: "EUR", expiresAt: answerBy });
    expect(view.screen).toBe("pay-for-selection");
    // The bridge reads it from the retained state: it must pass the contract's schema.
    const state = {
      ...view,
      hardware: { driver: "simulator", link: "up" },
      versions: { agent: "t", contract: 1 },
      ts: 1,
    };
    expect(machineState.safeParse(state).success).toBe(true);
    expect(h.session.displayState()).toEqual({
      screen: "pay-for-selection",
      selection: "A2",
      priceMinor: 200,
      currency: "EUR",
      deadline: answerBy,
    });
    expect(h.mechanism.denials).toEqual([]);
    expect(h.mechanism.vends).toEqual([]);
    expect(h.events).toEqual([]);
  });

  it("the unlock vends the held selection at once, single-vend, at the machine's price", async () => {
    const h = await harness({ mode: "multi-vend" });
    h.mechanism.select({ ...cola, answerBy: Date.now() + 45_000 });
    await until(() => h.session.view().screen === "pay-for-selection");
    await paymentPending(h, "sf-1", 200);
    expect(h.session.view().screen).toBe("payment-pending");
    expect(await unlock(h, "sf-1", 200)).toBeUndefined();
    await until(() => h.named("session-ended").length === 1);
    expect(h.mechanism.vends).toEqual([{ selection: "A2", priceMinor: 200 }]);
    expect(h.events.map((event) => event.name)).toEqual(["unlocked", "vend-started", "vended", "session-ended"]);
    // Paid for one product: the session ends after it although the machine's mode is multi-vend.
    expect(h.named("session-ended")[0]?.payload).toMatchObject({ reason: "single-vend-done", vendedTotalMinor: 200 });
    for (const event of h.events) expect(eventSchemas[event.name].safeParse(event.payload).success).toBe(true);
    expect(h.session.view().pendingSelection).toBeUndefined();
    // The session was opened for the held request: no credit of the machine's own (MDB: no C,START).
    expect(h.mechanism.heldOpens).toEqual([7]);
  });

  it("the VMC gave up silently: the held vend fails, the session then offers credit and the customer may press again", async () => {
    const h = await harness({ timings: { selectionTimeoutMs: 300 } });
    h.mechanism.outcomes.push({ outcome: "not-delivered", evidence: "none", detail: "VEND -3" });
    h.mechanism.select({ ...cola, answerBy: Date.now() + 45_000 });
    await until(() => h.session.view().screen === "pay-for-selection");
    await unlock(h, "sf-7", 200);
    await until(() => h.named("vend-failed").length === 1);
    await until(() => h.mechanism.openSessions.length === 2);
    expect(h.mechanism.heldOpens).toEqual([7, undefined]);
    expect(h.mechanism.openSessions).toEqual([200, 200]);
    expect(h.mechanism.closeCount).toBe(1);
    expect(h.journal.state.session?.sessionId).toBe("sf-7");
    await until(() => h.named("session-ended").length === 1);
    expect(h.named("session-ended")[0]?.payload).toMatchObject({ reason: "idle-timeout", vendedCount: 0 });
  });

  it("an unlock with under 2 s left on the hold: the hold is released, the session offers credit as usual", async () => {
    const h = await harness();
    h.mechanism.select({ ...cola, answerBy: Date.now() + 1_500 });
    await until(() => h.session.view().screen === "pay-for-selection");
    await unlock(h, "sf-8", 200);
    expect(h.mechanism.denials).toEqual([
      { selection: "x", reason: "the machine stops holding the selection too soon" },
    ]);
    expect(h.mechanism.heldOpens).toEqual([undefined]);
    expect(h.mechanism.vends).toEqual([]);
  });

  it("stopping with a held selection answers the machine; prices do not change while one is held", async () => {
    const h = await harness();
    h.mechanism.select({ ...cola, answerBy: Date.now() + 45_000 });
    await until(() => h.session.view().screen === "pay-for-selection");
    expect(h.session.setCatalog({ currency: "EUR", products: {} })).toMatchObject({ reason: "busy" });
    await h.session.stop(1_000);
    expect(h.mechanism.denials).toEqual([{ selection: "x", reason: "the agent is stopping" }]);
  });

  it("the machine gives up before the unlock: nothing is vended, the paid session ends with nothing charged", async () => {
    const h = await harness({ timings: { selectionTimeoutMs: 300 } });
    h.mechanism.select({ ...cola, answerBy: Date.now() + 45_000 });
    await until(() => h.session.view().screen === "pay-for-selection");
    await paymentPending(h, "sf-2", 200);
    h.mechanism.emit("selectionWithdrawn", { selection: "x", requestId: 7, reason: "no approval in time" });
    await until(() => h.session.view().pendingSelection === undefined);
    await unlock(h, "sf-2", 200);
    // A normal session: the customer may press the product again; nobody does.
    expect(h.mechanism.openSessions).toEqual([200]);
    await until(() => h.named("session-ended").length === 1);
    expect(h.mechanism.vends).toEqual([]);
    expect(h.named("session-ended")[0]?.payload).toMatchObject({ reason: "idle-timeout", vendedCount: 0 });
  });

  it("a withdrawal of another request leaves the held selection alone", async () => {
    const h = await harness();
    h.mechanism.select({ ...cola, answerBy: Date.now() + 45_000 });
    await until(() => h.session.view().screen === "pay-for-selection");
    h.mechanism.emit("selectionWithdrawn", { selection: "A2", requestId: 6, reason: "replaced" });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(h.session.view().screen).toBe("pay-for-selection");
  });

  it("the hold ends at its deadline even without a word from the machine: denied, back to the QR", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    const h = await harness();
    h.mechanism.select({ ...cola, answerBy: Date.now() + 30_000 });
    await vi.advanceTimersByTimeAsync(10);
    expect(h.session.view().screen).toBe("pay-for-selection");
    await vi.advanceTimersByTimeAsync(29_000);
    expect(h.session.view().screen).toBe("pay-for-selection");
    await vi.advanceTimersByTimeAsync(1_000);
    expect(h.session.view().screen).toBe("idle");
    expect(h.mechanism.denials).toEqual([{ selection: "x", reason: "the machine stopped holding the selection" }]);
    // An unlock after it opens an ordinary session: nothing is vended for the released selection.
    await unlock(h, "sf-3", 200);
    expect(h.mechanism.vends).toEqual([]);
  });

  it("an unlock whose budget does not cover the held price: the selection is denied, the customer chooses within it", async () => {
    const h = await harness();
    h.mechanism.select({ ...cola, answerBy: Date.now() + 45_000 });
    await until(() => h.session.view().screen === "pay-for-selection");
    await unlock(h, "sf-4", 150);
    expect(h.mechanism.denials).toEqual([{ selection: "x", reason: "the unlock's budget 150 does not cover 200" }]);
    expect(h.mechanism.vends).toEqual([]);
    expect(h.session.view().screen).toBe("choose-product");
  });

  it("the customer cancels on the pay screen: denied at the machine, back to the QR, nothing journaled", async () => {
    const h = await harness();
    h.mechanism.select({ ...cola, answerBy: Date.now() + 45_000 });
    await until(() => h.session.view().screen === "pay-for-selection");
    await h.session.customerCancel();
    expect(h.mechanism.denials).toEqual([{ selection: "x", reason: "the customer cancelled the selection" }]);
    expect(h.session.view().screen).toBe("idle");
    expect(h.events).toEqual([]);
  });

  it("a payment cancelled in the app releases the held selection too", async () => {
    const h = await harness();
    h.mechanism.select({ ...cola, answerBy: Date.now() + 45_000 });
    await until(() => h.session.view().screen === "pay-for-selection");
    await paymentPending(h, "sf-5", 200);
    const env = envelope();
    await h.session.cancel({ ...env, signature, sessionId: "sf-5", reason: "customer-cancelled" }, env);
    expect(h.mechanism.denials.map((denial) => denial.reason)).toEqual(["payment cancelled"]);
    expect(h.session.view().pendingSelection).toBeUndefined();
  });

  it("refuses to hold: above the catalog price, not in the catalog, past its deadline, while a payment is pending, out of service", async () => {
    const h = await harness();
    h.mechanism.select({ ...cola, priceMinor: 250 });
    h.mechanism.select({ ...cola, mdbItem: 99 });
    h.mechanism.select({ ...cola, answerBy: Date.now() - 1 });
    await until(() => h.mechanism.denials.length === 3);
    await paymentPending(h, "sf-6", 500);
    h.mechanism.select(cola);
    await until(() => h.mechanism.denials.length === 4);
    h.mechanism.emit("fault", { code: "x", message: "broken", outOfService: true });
    const env = envelope();
    await h.session.cancel({ ...env, signature, sessionId: "sf-6", reason: "operator" }, env);
    h.mechanism.select(cola);
    await until(() => h.mechanism.denials.length === 5);
    expect(h.mechanism.denials.map((denial) => denial.reason)).toEqual([
      "machine price 250 is above the catalog price 200",
      "selection x is not in the catalog",
      "the machine no longer holds this selection",
      "a payment is already pending",
      "the machine is out of service",
    ]);
    expect(h.session.view().pendingSelection).toBeUndefined();
    expect(h.mechanism.vends).toEqual([]);
  });

  it("the idle screen of a selection-first machine says the customer may choose first", async () => {
    const h = await harness({ chooseFirst: "on-screen" });
    expect(h.session.displayState()).toEqual({ screen: "idle", chooseFirst: "on-screen" });
    const plain = await harness({ chooseFirst: undefined });
    expect(plain.session.displayState()).toEqual({ screen: "idle" });
  });
});

describe("selection first configuration", () => {
  const base = {
    machine: { id: "M1", merchantId: "m" },
    mqtt: { url: "mqtt://127.0.0.1:1883", password: "p" },
    commandKey: "ab".repeat(32),
    catalog: { currency: "EUR", products: { A1: { name: "W", sku: "W", priceMinor: 100 } } },
  };
  const mdb = (extra: Record<string, unknown>) => ({ driver: "mdb", serial: { path: "/dev/ttyAMA0" }, ...extra });

  it("refuses an adapter vend timeout too short to pay by QR, with the key and the reason", () => {
    const refused = agentConfigSchema.safeParse({ ...base, hardware: mdb({ alwaysIdle: true, vendTimeoutS: 10 }) });
    expect(refused.success).toBe(false);
    expect(refused.error?.issues.map((issue) => [issue.path.join("."), issue.message])).toEqual([
      [
        "hardware.vendTimeoutS",
        "with alwaysIdle the customer pays by QR while the VMC waits: at least 20 s (60 when unset)",
      ],
    ]);
    for (const hardware of [
      mdb({ alwaysIdle: true, vendTimeoutS: 20 }),
      mdb({ alwaysIdle: true }),
      mdb({ vendTimeoutS: 5 }),
    ]) {
      expect(agentConfigSchema.safeParse({ ...base, hardware }).success).toBe(true);
    }
  });
});

describe("selection first: every way a held selection ends is answered at the machine", () => {
  const held = () => ({ ...cola, answerBy: Date.now() + 45_000 });

  it("a payment cancelled on the machine's screen while pending denies the held selection too", async () => {
    const h = await harness();
    h.mechanism.select(held());
    await until(() => h.session.view().screen === "pay-for-selection");
    await paymentPending(h, "sf-10", 200);
    await h.session.customerCancel();
    expect(h.mechanism.denials).toEqual([{ selection: "x", reason: "the customer cancelled the payment" }]);
    expect(h.session.view().pendingSelection).toBeUndefined();
    expect(h.named("session-ended")[0]?.payload).toMatchObject({ sessionId: "sf-10", reason: "cancelled" });
  });

  it("a fault that takes the machine out of service denies the held selection", async () => {
    const h = await harness();
    h.mechanism.select(held());
    await until(() => h.session.view().screen === "pay-for-selection");
    h.mechanism.emit("fault", { code: "jam", message: "motor jammed", outOfService: true });
    await until(() => h.mechanism.denials.length === 1);
    expect(h.mechanism.denials).toEqual([{ selection: "x", reason: "the machine is out of service" }]);
    expect(h.session.view().pendingSelection).toBeUndefined();
  });

  it("a payment that is not confirmed in time denies the held selection", async () => {
    const h = await harness({ timings: { paymentPendingTimeoutMs: 150 } });
    h.mechanism.select(held());
    await until(() => h.session.view().screen === "pay-for-selection");
    await paymentPending(h, "sf-11", 200);
    await until(() => h.mechanism.denials.length === 1);
    expect(h.mechanism.denials).toEqual([{ selection: "x", reason: "the payment was not confirmed in time" }]);
    expect(h.named("session-ended")[0]?.payload).toMatchObject({ sessionId: "sf-11", reason: "payment-timeout" });
    expect(h.session.view().pendingSelection).toBeUndefined();
  });

  it("a newer held selection is not ended by the deadline of the one it replaced, nor of one cancelled before", async () => {
    const h = await harness();
    h.mechanism.select({ ...cola, requestId: 1, answerBy: Date.now() + 150 });
    await until(() => h.session.view().screen === "pay-for-selection");
    h.mechanism.select({ ...cola, requestId: 2, answerBy: Date.now() + 45_000 });
    await until(() => h.session.view().pendingSelection?.expiresAt !== undefined);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(h.mechanism.denials).toEqual([]);
    expect(h.session.view().screen).toBe("pay-for-selection");

    await h.session.customerCancel();
    h.mechanism.select({ ...cola, requestId: 3, answerBy: Date.now() + 150 });
    await until(() => h.session.view().screen === "pay-for-selection");
    await h.session.customerCancel();
    h.mechanism.select({ ...cola, requestId: 4, answerBy: Date.now() + 45_000 });
    await until(() => h.session.view().screen === "pay-for-selection");
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(h.mechanism.denials).toHaveLength(2);
    expect(h.session.view().screen).toBe("pay-for-selection");
  });

  it("a hold ends the last session's thank-you screen: once the hold is cancelled, the QR comes back at once", async () => {
    const h = await harness({ timings: { endScreenMs: 60_000 } });
    await unlock(h, "sf-12", 500);
    h.mechanism.select({ selection: "A1" });
    await until(() => h.named("session-ended").length === 1);
    expect(h.session.view().screen).toBe("thank-you");
    h.mechanism.select(held());
    await until(() => h.session.view().screen === "pay-for-selection");
    await h.session.customerCancel();
    expect(h.session.view().screen).toBe("idle");
  });

  it("an unlock after the hold's deadline, before its timer ran, vends nothing for it", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const h = await harness();
    h.mechanism.select({ ...cola, answerBy: Date.now() + 1_000 });
    await until(() => h.session.view().screen === "pay-for-selection");
    vi.setSystemTime(Date.now() + 1_000);
    await unlock(h, "sf-13", 500);
    expect(h.mechanism.denials).toEqual([
      { selection: "x", reason: "the machine stops holding the selection too soon" },
    ]);
    expect(h.mechanism.vends).toEqual([]);
    expect(h.session.view().screen).toBe("choose-product");
  });

  it("the catalog cannot change under a held price, and an unlock in another currency is refused, the hold kept", async () => {
    const h = await harness();
    h.mechanism.select(held());
    await until(() => h.session.view().screen === "pay-for-selection");
    const sek = { currency: "SEK", products: { A2: { name: "Cola", sku: "COLA", priceMinor: 2_000, mdbItem: 12 } } };
    expect(h.session.setCatalog(sek)).toMatchObject({ reason: "busy" });
    const env = envelope();
    const refused = await h.session.unlock(
      { ...env, sessionId: "sf-14", budgetMinor: 5_000, currency: "SEK", signature },
      env,
    );
    expect(refused).toMatchObject({ reason: "invalid" });
    expect(h.mechanism.vends).toEqual([]);
    expect(h.session.view().pendingSelection).toMatchObject({ selection: "A2", currency: "EUR" });
  });

  it("a graceful stop forgets the held selection", async () => {
    const h = await harness();
    h.mechanism.select(held());
    await until(() => h.session.view().screen === "pay-for-selection");
    await h.session.stop(0);
    expect(h.session.view().pendingSelection).toBeUndefined();
  });
});
