import { expect, it } from "vitest";
import type { MachineState } from "../../protocol/messages.ts";
import { capturedLogs } from "../helpers/captured-logs.ts";
import { eventually } from "../helpers/eventually.ts";
import { describeEachStore, type Harness, type StartHarness, vendedEvent } from "./helpers/harness.ts";

/**
 * What the operator reads in the purchase orchestrator's log (issue 16: the mutation run of the orchestrator left
 * every message and its fields untested, the bridge's tests ran with a silent logger). Each line answers a question
 * an operator asks: why a machine will not sell, which invoice a sale got, why a SEQR call or a command to a machine
 * did not go through, what a restart resumed, which purchase an instance took over.
 */

type Line = Record<string, unknown>;

const body = { token: "M1", amount: 20, currency: "EUR", msisdn: "46701234567" };

/** A harness whose bridge logs into `lines`; `logged(msg)` gives the orchestrator's lines with that message. */
async function loggedHarness(start: StartHarness, overrides: Record<string, unknown> = {}) {
  const { logger, lines } = capturedLogs("info");
  const h = await start(overrides, { logger });
  const logged = (msg: string): Line[] => lines.filter((line) => line.module === "purchase" && line.msg === msg);
  return { h, lines, logged };
}

function screen(state: Partial<MachineState>): MachineState {
  return {
    screen: "idle",
    session: null,
    hardware: { driver: "mdb", link: "up" },
    lastFault: null,
    versions: { agent: "1", contract: 1 },
    ts: 1,
    ...state,
  };
}

async function sessionOf(h: Harness, reference: string): Promise<string> {
  return (await h.purchaseFor(reference)).sessionId;
}

describeEachStore("orchestrator: the operator log", (start) => {
  it("createPurchase: why a machine will not sell, a held selection, and the invoice each sale got", async () => {
    const { h, logged } = await loggedHarness(start);
    h.fleet.online.delete("M1");
    expect((await h.createPurchase(body)).json).toEqual({ errorCode: "DEVICE_UNAVAILABLE" });
    h.fleet.online.add("M1");
    h.fleet.states.set("M1", screen({ screen: "out-of-service" }));
    expect((await h.createPurchase(body)).json).toEqual({ errorCode: "DEVICE_UNAVAILABLE" });
    h.fleet.states.delete("M1");
    await h.store.setMachineUnavailable("M1", "unlock-not-acknowledged", 1);
    expect((await h.createPurchase(body)).json).toEqual({ errorCode: "DEVICE_UNAVAILABLE" });
    expect(logged("createPurchase: machine unavailable")).toEqual([
      expect.objectContaining({ level: "info", machineId: "M1", reason: "offline" }),
      expect.objectContaining({ level: "info", machineId: "M1", reason: "screen out-of-service" }),
      expect.objectContaining({ level: "info", machineId: "M1", reason: "flagged: unlock-not-acknowledged" }),
    ]);
    await h.store.clearMachineUnavailable("M1");

    const held = { selection: "A2", priceMinor: 200, currency: "EUR", expiresAt: h.clock.now() + 60_000 };
    h.fleet.states.set("M1", screen({ screen: "pay-for-selection", pendingSelection: held }));
    const reference = await h.purchase();
    const sessionId = await sessionOf(h, reference);
    expect(logged("selection first")).toEqual([
      expect.objectContaining({ level: "info", sessionId, machineId: "M1", selection: "A2", priceMinor: 200 }),
    ]);
    expect(logged("invoice sent")).toEqual([
      expect.objectContaining({
        level: "info",
        sessionId,
        machineId: "M1",
        invoiceReference: reference,
        amountMinor: 200,
      }),
    ]);
  });

  it("createPurchase: a failing sendInvoice and a failing store are logged with the error", async () => {
    const { h, logged } = await loggedHarness(start);
    h.seqr.fail("sendInvoice");
    expect((await h.createPurchase(body)).json).toEqual({ errorCode: "INVOICING_ERROR" });
    const [failed] = await h.store.listPurchases({ machineId: "M1" });
    expect(logged("sendInvoice failed: releasing the machine")).toEqual([
      expect.objectContaining({
        level: "warn",
        sessionId: failed?.sessionId,
        machineId: "M1",
        err: expect.objectContaining({ message: expect.stringContaining("ECONNREFUSED") }),
      }),
    ]);

    const store = h.testStore.store;
    const claimMachine = store.claimMachine.bind(store);
    store.claimMachine = () => Promise.reject(new Error("disk I/O error"));
    expect((await h.createPurchase(body)).json).toEqual({ errorCode: "SYSTEM_ERROR" });
    store.claimMachine = claimMachine;
    expect(logged("createPurchase failed")).toEqual([
      expect.objectContaining({
        level: "error",
        token: "M1",
        err: expect.objectContaining({ message: "disk I/O error" }),
      }),
    ]);
  });

  it("commands the broker did not take: payment-pending, unlock and cancel are each logged with the session", async () => {
    const { h, logged } = await loggedHarness(start);
    h.fleet.failSends = true;
    const reference = await h.purchase();
    const sessionId = await sessionOf(h, reference);
    await h.quiesce();
    expect(logged("payment-pending not delivered to the machine")).toEqual([
      expect.objectContaining({
        level: "warn",
        sessionId,
        machineId: "M1",
        err: expect.objectContaining({ message: "broker unavailable" }),
      }),
    ]);
    await h.reserve(reference);
    expect(logged("unlock not delivered to the broker")).toEqual([
      expect.objectContaining({
        level: "warn",
        sessionId,
        err: expect.objectContaining({ message: "broker unavailable" }),
      }),
    ]);
    h.seqr.cancelByCustomer(reference);
    await h.notify(reference);
    await h.waitForState(reference, "cancelled");
    expect(logged("cancel not delivered to the machine")).toEqual([
      expect.objectContaining({
        level: "warn",
        sessionId,
        err: expect.objectContaining({ message: "broker unavailable" }),
      }),
    ]);
  });

  it("notifications: an unknown session, a late one and a failing status call; a malformed URL is not looked up", async () => {
    const { h, logged } = await loggedHarness(start);
    await h.app.orchestrator.notified("not a secret");
    await h.app.orchestrator.notified("x".repeat(19));
    await h.app.orchestrator.notified("x".repeat(65));
    await h.app.orchestrator.notified(`${"x".repeat(30)}/`);
    await h.app.orchestrator.notified(`/${"x".repeat(30)}`);
    expect(logged("notification for an unknown session")).toEqual([]);
    expect(await h.app.orchestrator.notified("x".repeat(20))).toBe("unknown");
    expect(await h.app.orchestrator.notified("A-z_9".repeat(12))).toBe("unknown");
    expect(logged("notification for an unknown session")).toEqual([
      expect.objectContaining({ level: "warn" }),
      expect.objectContaining({ level: "warn" }),
    ]);

    const reference = await h.purchase();
    const sessionId = await sessionOf(h, reference);
    h.seqr.fail("getPaymentStatus");
    await h.notify(reference);
    await eventually(() => expect(logged("getPaymentStatus failed")).toHaveLength(1));
    expect(logged("getPaymentStatus failed")[0]).toMatchObject({
      level: "warn",
      sessionId,
      err: expect.objectContaining({ message: expect.stringContaining("ECONNREFUSED") }),
    });
    h.seqr.cancelByCustomer(reference);
    await h.clock.advance(1_000);
    await h.waitForState(reference, "cancelled");
    expect(logged("late or duplicate notification")).toEqual([]);
    await h.notify(reference);
    expect(logged("late or duplicate notification")).toEqual([
      expect.objectContaining({ level: "info", sessionId, state: "cancelled" }),
    ]);
  });

  it("a restart names each purchase it resumes, and the unlock it resends when the machine comes online", async () => {
    const { h, logged } = await loggedHarness(start);
    const waiting = await h.purchase("M2", 20, "SEK");
    const { reference } = await h.reservedPurchase();
    await h.restartWithMachineOffline();
    const resumed = logged("resuming purchase");
    expect(resumed).toHaveLength(2);
    expect(resumed).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ level: "info", sessionId: await sessionOf(h, waiting), state: "invoiced" }),
        expect.objectContaining({ level: "info", sessionId: await sessionOf(h, reference), state: "reserved" }),
      ]),
    );
    expect(logged("machine online with an unacknowledged unlock: resending")).toEqual([]);
    h.fleet.setOnline("M1");
    await h.quiesce();
    expect(logged("machine online with an unacknowledged unlock: resending")).toEqual([
      expect.objectContaining({ level: "info", sessionId: await sessionOf(h, reference), machineId: "M1" }),
    ]);
  });

  it("an event of a session the machine does not hold is logged with the machine, the session and the event", async () => {
    const { h, logged } = await loggedHarness(start);
    const { sessionId } = await h.reservedPurchase();
    await h.fleet.emit("M2", "vended", vendedEvent(sessionId, "v1"));
    await h.fleet.emit("M1", "vended", vendedEvent("no-such-session", "v2"));
    expect(logged("event for a session this machine does not hold")).toEqual([
      expect.objectContaining({ level: "warn", machineId: "M2", sessionId, event: "vended" }),
      expect.objectContaining({ level: "warn", machineId: "M1", sessionId: "no-such-session", event: "vended" }),
    ]);
  });

  it("an unlock not resent after an outage longer than the commit window says why", async () => {
    const { h, logged } = await loggedHarness(start);
    const { reference, sessionId } = await h.reservedPurchase();
    await h.restart({ downForMs: h.config.seqr.commitReservationTimeoutSeconds * 1_000 + 60_000 });
    await h.clock.advance(1_000);
    await h.waitForState(reference, "cancelled");
    expect(logged("unlock not (re)sent: the reservation could not be committed after it")).toEqual([
      expect.objectContaining({ level: "warn", sessionId }),
    ]);
  });

  it("a sweep names the purchase whose deadline no timer of its own handled", async () => {
    // A long clock skew keeps the reservation past the unlock-ack deadline; once that timer has fired, the sweep
    // finds the deadline passed without a timer.
    const { h, logged } = await loggedHarness(start, { timeouts: { clockSkewMs: 60_000 } });
    const { sessionId } = await h.reservedPurchase();
    await h.clock.advance(20_000);
    expect(logged("taking over an overdue purchase")).toEqual([]);
    await h.clock.advance(10_000);
    expect(logged("taking over an overdue purchase")[0]).toMatchObject({
      level: "warn",
      sessionId,
      state: "reserved",
      overdue: "unlock-ack",
    });
  });
});
