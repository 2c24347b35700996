import { expect, it } from "vitest";
import type { Store } from "../../backend-bridge/store/store.ts";
import { capturedLogs } from "../helpers/captured-logs.ts";
import { eventually } from "../helpers/eventually.ts";
import { describeEachStore, type StartHarness } from "./helpers/harness.ts";
import { failTransitionsTo } from "./helpers/orchestrator-faults.ts";

/**
 * Work the orchestrator runs in the background (timers, the sweep, reactions to a machine coming online, cancels of
 * invoices nobody will pay) has nobody to answer to when it fails: the operator's log is where it shows, named by what
 * failed (issue 16: the mutation run found those names untested). Each test makes the store, or SEQR, fail once at
 * the moment one piece of background work runs.
 */

type Line = Record<string, unknown>;

const body = { token: "M1", amount: 20, currency: "EUR", msisdn: "46701234567" };
const storeError = expect.objectContaining({ message: "disk I/O error" });

type FailingMethod = "transaction" | "listOpenPurchases" | "holderOf" | "clearMachineUnavailable";

/** The store's `method` rejects on its next call, then works again. */
function failNextCall(store: Store, method: FailingMethod): void {
  const methods = store as unknown as Record<FailingMethod, unknown>;
  const original = methods[method];
  methods[method] = () => {
    methods[method] = original;
    return Promise.reject(new Error("disk I/O error"));
  };
}

async function loggedHarness(start: StartHarness, overrides: Record<string, unknown> = {}) {
  const { logger, lines } = capturedLogs("info");
  const h = await start(overrides, { logger });
  const orchestratorLines = () => lines.filter((line) => line.module === "purchase");
  /** The orchestrator's error lines: what failed in the background. */
  const failures = (): Line[] =>
    orchestratorLines()
      .filter((line) => line.level === "error")
      .map(({ msg, err }) => ({ msg, err }));
  const logged = (msg: string): Line[] => orchestratorLines().filter((line) => line.msg === msg);
  return { h, failures, logged };
}

describeEachStore("orchestrator: background work that fails", (start) => {
  it("a status poll and the payment deadline, each failing once, are logged by name", async () => {
    const { h, failures } = await loggedHarness(start);
    await h.purchase();
    await h.clock.advance(h.config.timeouts.statusPollIntervalMs - 1);
    failNextCall(h.testStore.store, "transaction");
    await h.clock.advance(1);
    expect(failures()).toEqual([{ msg: "status poll failed", err: storeError }]);
    await h.clock.advance(h.config.timeouts.paymentConfirmMs - h.config.timeouts.statusPollIntervalMs - 1);
    failNextCall(h.testStore.store, "transaction");
    await h.clock.advance(1);
    expect(failures()).toEqual([
      { msg: "status poll failed", err: storeError },
      { msg: "payment deadline failed", err: storeError },
    ]);
  });

  it("the unlock's acknowledgement and expiry timers, each failing once, are logged by name", async () => {
    const { h, failures } = await loggedHarness(start);
    await h.reservedPurchase();
    await h.clock.advance(h.config.timeouts.unlockAckMs - 1);
    failNextCall(h.testStore.store, "transaction");
    await h.clock.advance(1);
    expect(failures()).toEqual([{ msg: "unlock ack timeout failed", err: storeError }]);
    // The unlock's expiry (commandTtlMs) plus the clock skew allowed.
    await h.clock.advance(
      h.config.timeouts.commandTtlMs + h.config.timeouts.clockSkewMs - h.config.timeouts.unlockAckMs - 1,
    );
    failNextCall(h.testStore.store, "transaction");
    await h.clock.advance(1);
    expect(failures()).toEqual([
      { msg: "unlock ack timeout failed", err: storeError },
      { msg: "unlock expiry failed", err: storeError },
    ]);
  });

  it("the session-max and commit-deadline timers, each failing once, are logged by name", async () => {
    // A 60 s reservation: forced closed at 48 s (a margin of a fifth), after a session of at most 20 s.
    const { h, failures } = await loggedHarness(start, {
      seqr: { commitReservationTimeoutSeconds: 60 },
      timeouts: { sessionMaxMs: 20_000 },
    });
    const { sessionId } = await h.reservedPurchase();
    await h.fleet.emit("M1", "unlocked", { sessionId, commandId: "x", budgetMinor: 2000, currency: "EUR" });
    await h.clock.advance(20_000 - 1);
    failNextCall(h.testStore.store, "transaction");
    await h.clock.advance(1);
    expect(failures()).toEqual([{ msg: "session max failed", err: storeError }]);
    await h.clock.advance(48_000 - 20_000 - 1);
    failNextCall(h.testStore.store, "transaction");
    await h.clock.advance(1);
    expect(failures()).toEqual([
      { msg: "session max failed", err: storeError },
      { msg: "commit deadline failed", err: storeError },
    ]);
  });

  it("a machine coming online, or back in service, while the store fails: each reaction logged by name", async () => {
    const { h, failures } = await loggedHarness(start);
    failNextCall(h.testStore.store, "clearMachineUnavailable");
    h.fleet.setOnline("M1");
    await h.quiesce();
    expect(failures()).toEqual([{ msg: "clear machine flag failed", err: storeError }]);
    failNextCall(h.testStore.store, "holderOf");
    h.fleet.setOnline("M1");
    await h.quiesce();
    expect(failures().slice(1)).toEqual([{ msg: "resend unlock failed", err: storeError }]);
    failNextCall(h.testStore.store, "holderOf");
    await h.fleet.emit("M1", "in-service", { sessionId: null, code: "motor-jam" });
    await h.quiesce();
    expect(failures().slice(2)).toEqual([{ msg: "resend unlock failed", err: storeError }]);
  });

  it("a sweep that fails is logged, and the next one runs", async () => {
    // As in the operator-log test: the sweep takes over the unanswered unlock once its own timer has fired.
    const { h, failures, logged } = await loggedHarness(start, { timeouts: { clockSkewMs: 60_000 } });
    const { sessionId } = await h.reservedPurchase();
    await h.clock.advance(20_000);
    failNextCall(h.testStore.store, "listOpenPurchases");
    await h.clock.advance(10_000);
    expect(failures()).toEqual([{ msg: "sweep of open purchases failed", err: storeError }]);
    expect(logged("taking over an overdue purchase")).toEqual([]);
    await h.clock.advance(10_000);
    expect(failures()).toHaveLength(1);
    expect(logged("taking over an overdue purchase")).toEqual([
      expect.objectContaining({ sessionId, overdue: "unlock-ack" }),
    ]);
  });

  it("a late invoice that cannot be recorded is logged by name", async () => {
    const { h, failures } = await loggedHarness(start);
    const release = h.seqr.hold("sendInvoice");
    const pending = h.createPurchase(body);
    await eventually(() => expect(h.seqr.count("sendInvoice")).toBe(1));
    await h.clock.advance(h.config.timeouts.createPurchaseMs);
    expect((await pending).json).toEqual({ errorCode: "INVOICING_ERROR" });
    failNextCall(h.testStore.store, "transaction");
    release();
    await eventually(() => expect(failures()).toEqual([{ msg: "late invoice failed", err: storeError }]));
  });

  it("a direct cancel of an invoice nobody will pay, failing at SEQR, is logged by name", async () => {
    const { h, failures } = await loggedHarness(start);
    const sendFailure = expect.objectContaining({ message: expect.stringContaining("ECONNREFUSED") });
    // The claim is taken away while sendInvoice runs (an operator, another instance).
    const release = h.seqr.hold("sendInvoice");
    const pending = h.createPurchase(body);
    await eventually(() => expect(h.seqr.count("sendInvoice")).toBe(1));
    const [claimed] = await h.store.listPurchases({ machineId: "M1" });
    const at = h.clock.now();
    await h.store.transition(claimed!.sessionId, ["claimed"], "failed", { closedAt: at }, { reason: "operator", at });
    h.seqr.fail("cancelInvoice");
    release();
    expect((await pending).json).toEqual({ errorCode: "SYSTEM_ERROR" });
    await eventually(() =>
      expect(failures().at(-1)).toEqual({ msg: "cancel orphan invoice failed", err: sendFailure }),
    );

    // The invoice reference cannot be stored.
    const restore = failTransitionsTo(h.testStore.store, ["invoiced"]);
    h.seqr.fail("cancelInvoice");
    expect((await h.createPurchase(body)).json).toEqual({ errorCode: "INVOICING_ERROR" });
    restore();
    await eventually(() =>
      expect(failures().at(-1)).toEqual({ msg: "cancel unrecorded invoice failed", err: sendFailure }),
    );
  });
});
