import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { expect, it } from "vitest";
import { capturedLogs } from "../helpers/captured-logs.ts";
import { eventually } from "../helpers/eventually.ts";
import { describeEachStore, type Harness, sessionEndedEvent, vendedEvent } from "./helpers/harness.ts";

/**
 * How the orchestrator ends a session and closes a purchase, where the first mutation run of orchestrator.ts
 * (docs/mutation-report.md, 2026-12-03) found nothing checked: what session-ended and a refused command leave in the
 * audit, a second session-ended, a refused unlock (which refusal cancels, which flags the machine), the sale closed
 * with what was billed and when, the final invoice update re-armed before the commit, a closed sale counted, the
 * invoice cancelled at once, a purchase without a phone number, an after-commit action that throws, and background
 * work let go of once it is done.
 */

// A full garbage collection on demand (as `node --expose-gc` gives it): what the bridge still holds survives it.
setFlagsFromString("--expose-gc");
const collectGarbage = runInNewContext("gc") as () => void;

const noMsisdn = { token: "M1", amount: 20, currency: "EUR" };

/** Sales closed with this outcome, as the bridge's metrics count them. */
async function closed(h: Harness, outcome: "cancelled" | "committed" | "failed"): Promise<number> {
  const { values } = await h.app.metrics.sessions.get();
  return values.find((value) => value.labels.outcome === outcome)?.value ?? 0;
}

/** The purchase's audit entries with this reason: what the operator reads in its timeline. */
async function audited(h: Harness, sessionId: string, reason: string) {
  const audit = await h.store.listAudit(sessionId);
  return audit
    .filter((entry) => entry.reason === reason)
    .map(({ fromState, toState, detail }) => ({
      fromState,
      toState,
      detail: detail ?? null,
    }));
}

function refusal(sessionId: string, command: string, reason: "expired" | "out-of-service", commandId: string | null) {
  return { sessionId, commandId, command, reason, detail: `refused ${command}` };
}

describeEachStore("orchestrator: the end of a session and the close of a purchase", (start) => {
  it("the machine ending its session before the payment: counted as a cancelled sale, SEQR's invoice cancelled at once", async () => {
    const h = await start();
    const reference = await h.purchase();
    const { sessionId } = await h.purchaseFor(reference);
    await h.fleet.emit("M1", "session-ended", { ...sessionEndedEvent(sessionId, 0, 0), reason: "payment-timeout" });
    // No outbox pass is run by the test, and the clock stands still: the cancellation itself starts the SEQR call.
    await eventually(() => expect(h.seqr.only().status).toBe("CANCELED"));
    expect(await closed(h, "cancelled")).toBe(1);
  });

  it("session-ended is audited with the machine's figures, once: a second report does not replace the first", async () => {
    const h = await start();
    const { reference, sessionId } = await h.unlockedPurchase("20.00");
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v1"));
    await h.fleet.emit("M1", "session-ended", sessionEndedEvent(sessionId, 2, 350));
    // The machine reports its end again, with other figures (a restart of its journal, a bug): the first stands.
    await h.fleet.emit("M1", "session-ended", sessionEndedEvent(sessionId, 1, 150));
    expect(await audited(h, sessionId, "session-ended")).toEqual([
      {
        fromState: "vending",
        toState: "vending",
        detail: { reason: "customer-done", vendedCount: 2, vendedTotalMinor: 350 },
      },
    ]);
    const waiting = await h.purchaseFor(reference);
    expect([waiting.state, waiting.endedVendedCount, waiting.endedVendedTotalMinor]).toEqual(["vending", 2, 350]);
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v2", 200));
    await h.drainOutbox();
    expect((await h.waitForState(reference, "committed")).billedMinor).toBe(350);
  });

  it("a session ended before the unlock's acknowledgement, with a vend announced, waits for it: no cancel is sent", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    await h.fleet.emit("M1", "session-ended", sessionEndedEvent(sessionId, 1, 150));
    expect((await h.purchaseFor(reference)).state).toBe("reserved");
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v1"));
    await h.drainOutbox();
    await h.waitForState(reference, "committed");
    expect(h.fleet.commands("cancel")).toEqual([]);
  });

  it("a refused command is audited with the machine's reason, command id and detail; a refused payment-pending cancels nothing", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    // The machine could not read the command's id: it answers with none.
    await h.fleet.emit("M1", "command-rejected", refusal(sessionId, "payment-pending", "expired", null));
    expect(await audited(h, sessionId, "command-rejected:payment-pending")).toEqual([
      {
        fromState: "reserved",
        toState: "reserved",
        detail: { reason: "expired", commandId: null, detail: "refused payment-pending" },
      },
    ]);
    expect((await h.purchaseFor(reference)).state).toBe("reserved");
    expect(h.fleet.commands("cancel")).toEqual([]);
  });

  it("an expired unlock refused without a command id cancels the sale and tells the machine, which stays in service", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    await h.fleet.emit("M1", "command-rejected", refusal(sessionId, "unlock", "expired", null));
    await h.waitForState(reference, "cancelled");
    expect(await audited(h, sessionId, "unlock-rejected:expired")).toEqual([
      { fromState: "reserved", toState: "cancelled", detail: null },
    ]);
    expect(h.fleet.commands("cancel").map((command) => command.body)).toEqual([{ sessionId, reason: "system" }]);
    expect(await closed(h, "cancelled")).toBe(1);
    expect(await h.store.machineUnavailableReason("M1")).toBeUndefined();
  });

  it("an unlock refused as out of service takes the machine out of offers", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    const unlock = h.fleet.commands("unlock")[0]!;
    await h.fleet.emit("M1", "command-rejected", refusal(sessionId, "unlock", "out-of-service", unlock.commandId));
    await h.waitForState(reference, "cancelled");
    expect(await h.store.machineUnavailableReason("M1")).toBe("unlock-rejected:out-of-service");
  });

  it("a refusal of an earlier unlock, or of the unlock once the machine acknowledged it, cancels nothing", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    const unlock = h.fleet.commands("unlock")[0]!;
    await h.fleet.emit("M1", "command-rejected", refusal(sessionId, "unlock", "expired", "an-earlier-unlock"));
    expect((await h.purchaseFor(reference)).state).toBe("reserved");
    await h.fleet.emit("M1", "unlocked", {
      sessionId,
      commandId: unlock.commandId,
      budgetMinor: 2000,
      currency: "EUR",
    });
    // A resend of the same unlock that reached the machine after its expiry.
    await h.fleet.emit("M1", "command-rejected", refusal(sessionId, "unlock", "expired", unlock.commandId));
    expect((await h.purchaseFor(reference)).state).toBe("unlocked");
    expect(h.fleet.commands("cancel")).toEqual([]);
  });

  it("a sale is closed with what was billed and how many vends in its audit, and the time it closed", async () => {
    const h = await start();
    const { reference, sessionId } = await h.unlockedPurchase("20.00");
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v1"));
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v2", 200));
    await h.clock.advance(7_000);
    await h.fleet.emit("M1", "session-ended", sessionEndedEvent(sessionId, 2, 350));
    expect(await audited(h, sessionId, "session-closed")).toEqual([
      { fromState: "vending", toState: "committing", detail: { billedMinor: 350, vends: 2 } },
    ]);
    expect((await h.purchaseFor(reference)).closedAt).toBe(h.clock.now());
  });

  it("an invoice update SEQR gave up on is sent again, marked final, before the commit", async () => {
    const h = await start();
    const { reference, sessionId } = await h.unlockedPurchase("20.00");
    h.seqr.fail("updateInvoice", 49);
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v1"));
    await h.drainOutbox();
    expect((await h.store.getOutbox(sessionId, "updateInvoice"))?.status).not.toBe("pending");
    expect(h.seqr.only().updates).toEqual([]);
    await h.fleet.emit("M1", "session-ended", sessionEndedEvent(sessionId, 1, 150));
    const purchase = await h.purchaseFor(reference);
    // Due by the commit deadline itself (the vend's update was due half a commit margin before it).
    expect(await h.store.getOutbox(sessionId, "updateInvoice")).toMatchObject({
      status: "pending",
      attempts: 0,
      payload: { final: true },
      deadlineAt: (purchase.invoicedAt ?? 0) + 600_000,
    });
    await h.drainOutbox();
    await h.waitForState(reference, "committed");
    expect(h.seqr.only().updates.map((update) => update.total.minor)).toEqual([150]);
    const order = h.seqr.calls.map((call) => call.operation);
    expect(order.lastIndexOf("updateInvoice")).toBeLessThan(order.indexOf("commitReservation"));
  });

  it("a session ended with nothing vended is counted as a cancelled sale", async () => {
    const h = await start();
    const { reference, sessionId } = await h.unlockedPurchase("20.00");
    await h.fleet.emit("M1", "session-ended", sessionEndedEvent(sessionId, 0, 0));
    await h.waitForState(reference, "cancelled");
    expect(await closed(h, "cancelled")).toBe(1);
  });

  it("a purchase made without a phone number has none after it closes", async () => {
    const h = await start();
    const { json } = await h.createPurchase(noMsisdn);
    const reference = String(json.invoiceReferenceId);
    expect((await h.purchaseFor(reference)).msisdn).toBeNull();
    h.seqr.cancelByCustomer(reference);
    await h.notify(reference);
    expect((await h.waitForState(reference, "cancelled")).msisdn).toBeNull();
  });

  it("an action after a stored transition that throws is logged, and the actions after it still run", async () => {
    const { logger, lines } = capturedLogs("info");
    const h = await start({}, { logger });
    const { reference, sessionId } = await h.unlockedPurchase("20.00");
    const { outbox } = h.app;
    outbox.kick = () => {
      outbox.kick = Object.getPrototypeOf(outbox).kick;
      throw new Error("outbox worker gone");
    };
    await h.fleet.emit("M1", "session-ended", sessionEndedEvent(sessionId, 0, 0));
    await h.waitForState(reference, "cancelled");
    const errors = lines.filter((line) => line.module === "purchase" && line.level === "error");
    expect(errors.map(({ msg, err }) => ({ msg, err }))).toEqual([
      {
        msg: "action after a stored transition failed",
        err: expect.objectContaining({ message: "outbox worker gone" }),
      },
    ]);
    // The cancellation's other action (the close counted) ran after the failing one.
    expect(await closed(h, "cancelled")).toBe(1);
  });

  it("background work that has finished is not kept in memory (a bridge runs for months of polls and sweeps)", async () => {
    const h = await start();
    const store = h.testStore.store;
    const original = store.clearMachineUnavailable;
    let result: WeakRef<object> | undefined;
    // The flag of a machine that comes online is cleared in the background: its result is what the work leaves.
    store.clearMachineUnavailable = (machineId) => {
      store.clearMachineUnavailable = original;
      const done = { machineId };
      result = new WeakRef(done);
      return original.call(store, machineId).then(() => done as unknown as boolean);
    };
    h.fleet.setOnline("M1");
    await h.quiesce();
    expect(result?.deref()).toEqual({ machineId: "M1" });
    // A WeakRef keeps its target until the current job ends.
    await new Promise((resolve) => setImmediate(resolve));
    collectGarbage();
    expect(result?.deref()).toBeUndefined();
  });
});
