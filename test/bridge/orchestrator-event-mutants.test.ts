import { expect, it } from "vitest";
import type { Store } from "../../backend-bridge/store/store.ts";
import { capturedLogs } from "../helpers/captured-logs.ts";
import { eventually } from "../helpers/eventually.ts";
import {
  describeEachStore,
  type Harness,
  machineKey,
  sessionEndedEvent,
  vendedEvent,
  vendFailedEvent,
  vendUnknownEvent,
} from "./helpers/harness.ts";

/**
 * The orchestrator's handling of machine events (handleEvent, #applyEvent, #onUnlocked, #onVended, #onVendNotBilled)
 * at the points its first mutation run (docs/mutation-report.md, 2026-12-03) found untested: which events wait for
 * which, replays and re-reports, what takes a machine out of service and what brings it back, `vend-started` (the
 * agent sends it before every vend; no bridge test sent it), from when a session's maximum runs, a late unlock, what
 * each vend records and how soon its invoice rows go to SEQR.
 */

const sessionMaxMs = 300_000;

function fault(outOfService: boolean, eventId?: string) {
  return {
    sessionId: null,
    code: "door-open",
    message: "service door open",
    outOfService,
    ...(eventId ? { eventId } : {}),
  };
}

async function unavailable(h: Harness): Promise<string[]> {
  return (await h.store.listUnavailableMachines()).map((machine) => machine.machineId);
}

function unlockedEvent(sessionId: string) {
  return { sessionId, commandId: "x", budgetMinor: 2000, currency: "EUR" };
}

function vendStartedEvent(sessionId: string, vendId: string) {
  return { sessionId, vendId, selection: "A1", priceMinor: 150, currency: "EUR" };
}

/** The cancel commands sent to M1 for the session, by reason. */
function cancels(h: Harness, sessionId: string): unknown[] {
  return h.fleet
    .commands("cancel", "M1")
    .filter((command) => command.body.sessionId === sessionId)
    .map((command) => command.body.reason);
}

/** A purchase on M1 reserved and unlocked `ms` ago: its session id and when the machine reported it unlocked. */
async function unlockedSince(h: Harness, ms: number): Promise<{ sessionId: string; unlockedAt: number }> {
  const { sessionId } = await h.reservedPurchase();
  await h.fleet.emit("M1", "unlocked", unlockedEvent(sessionId));
  const unlockedAt = h.clock.now();
  await h.clock.advance(ms);
  return { sessionId, unlockedAt };
}

/** The machine is asked to end the session (session maximum) at `at`, not a millisecond before. */
async function askedToEndAt(h: Harness, sessionId: string, at: number): Promise<void> {
  await h.clock.advanceTo(at - 1);
  expect(cancels(h, sessionId)).toEqual([]);
  await h.clock.advanceTo(at);
  expect(cancels(h, sessionId)).toEqual(["system"]);
}

async function auditReasons(h: Harness, sessionId: string): Promise<string[]> {
  return (await h.store.listAudit(sessionId)).map((entry) => entry.reason);
}

describeEachStore("orchestrator: machine events", (start) => {
  it("a machine's report without a session does not wait for another machine's report the store is still taking", async () => {
    const h = await start();
    await h.quiesce();
    const { transaction } = h.store;
    let release = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let holdNext = true;
    let heldOne = false;
    h.store.transaction = (async (work, options) => {
      if (holdNext) {
        holdNext = false;
        heldOne = true;
        await released;
      }
      return transaction(work, options);
    }) as Store["transaction"];
    const m1 = h.fleet.emit("M1", "fault", fault(true));
    await eventually(() => expect(heldOne).toBe(true));
    const m2 = h.fleet.emit("M2", "fault", fault(true));
    await eventually(async () => expect(await unavailable(h)).toEqual(["M2"]));
    release();
    await Promise.all([m1, m2]);
    expect((await unavailable(h)).sort()).toEqual(["M1", "M2"]);
  });

  it("only a vend needs the machine's price list: while its entry cannot be read, other events are stored and a vend waits for the agent's resend", async () => {
    const h = await start();
    await h.app.registry.add("S1", {
      name: "Store machine",
      commandKey: machineKey,
      catalog: h.config.machines.M1!.catalog,
    });
    h.fleet.setOnline("S1");
    const reference = await h.purchase("S1");
    const sessionId = await h.reserve(reference);
    // Past the registry's cache of the entry read by createPurchase.
    await h.clock.advance(2_001);
    const { getMachine } = h.store;
    h.store.getMachine = () => Promise.reject(new Error("disk I/O error"));
    await h.fleet.emit("S1", "unlocked", unlockedEvent(sessionId));
    await h.fleet.emit("S1", "vend-started", vendStartedEvent(sessionId, "v1"));
    const vended = { ...vendedEvent(sessionId, "v1"), eventId: "vended-v1" };
    await expect(h.fleet.emit("S1", "vended", vended)).rejects.toThrow("disk I/O error");
    expect(await h.store.listVends(sessionId)).toEqual([]);
    h.store.getMachine = getMachine;
    await h.fleet.emit("S1", "vended", vended);
    expect((await h.store.listVends(sessionId)).map((vend) => [vend.vendId, vend.priceMinor])).toEqual([["v1", 150]]);
    expect((await h.store.getPurchase(sessionId))?.state).toBe("vending");
  });

  it("a fault delivered again after the machine came back in service does not take it out of service again", async () => {
    const h = await start();
    await h.fleet.emit("M1", "fault", fault(true, "fault-1"));
    expect(await unavailable(h)).toEqual(["M1"]);
    await h.fleet.emit("M1", "in-service", { sessionId: null, code: "door-open" });
    expect(await unavailable(h)).toEqual([]);
    await h.fleet.emit("M1", "fault", fault(true, "fault-1"));
    expect(await unavailable(h)).toEqual([]);
  });

  it("only in-service or a pong saying so brings a machine back: a fault that leaves it in service and an older agent's pong do not", async () => {
    const h = await start();
    await h.fleet.emit("M1", "fault", fault(true));
    expect(await unavailable(h)).toEqual(["M1"]);
    await h.fleet.emit("M1", "fault", fault(false));
    await h.fleet.emit("M1", "pong", { sessionId: null, commandId: "p1" });
    expect(await unavailable(h)).toEqual(["M1"]);
    await h.fleet.emit("M1", "pong", { sessionId: null, commandId: "p2", inService: true });
    expect(await unavailable(h)).toEqual([]);
  });

  it("a fault is about the machine: one naming a session it does not hold is stored without a warning about that session", async () => {
    const { logger, lines } = capturedLogs("info");
    const h = await start({}, { logger });
    const { sessionId } = await h.reservedPurchase();
    await h.fleet.emit("M2", "fault", { ...fault(true), sessionId });
    await h.fleet.emit("M1", "fault", { ...fault(false), sessionId: "no-such-session" });
    expect(await unavailable(h)).toEqual(["M2"]);
    expect(lines.filter((line) => line.msg === "event for a session this machine does not hold")).toEqual([]);
  });

  it("vend-started moves an unlocked session to vending, audited with its vend id, and bills nothing by itself", async () => {
    const h = await start();
    const { sessionId, unlockedAt } = await unlockedSince(h, 5_000);
    await h.fleet.emit("M1", "vend-started", vendStartedEvent(sessionId, "v1"));
    const purchase = await h.store.getPurchase(sessionId);
    expect(purchase).toMatchObject({ state: "vending", unlockedAt });
    const audit = (await h.store.listAudit(sessionId)).filter((entry) => entry.reason === "vend-started");
    expect(audit).toEqual([
      expect.objectContaining({ fromState: "unlocked", toState: "vending", detail: { vendId: "v1" } }),
    ]);
    expect(await h.store.listVends(sessionId)).toEqual([]);
    // A second vend of the session starts without a second transition.
    await h.fleet.emit("M1", "vend-started", vendStartedEvent(sessionId, "v2"));
    expect((await auditReasons(h, sessionId)).filter((reason) => reason === "vend-started")).toHaveLength(1);
  });

  it("a vend-started whose unlocked report was lost opens the session: its maximum runs from that report", async () => {
    const h = await start();
    const { sessionId } = await h.reservedPurchase();
    await h.clock.advance(2_000);
    const startedAt = h.clock.now();
    await h.fleet.emit("M1", "vend-started", vendStartedEvent(sessionId, "v1"));
    expect(await h.store.getPurchase(sessionId)).toMatchObject({ state: "vending", unlockedAt: startedAt });
    await askedToEndAt(h, sessionId, startedAt + sessionMaxMs);
    expect(await auditReasons(h, sessionId)).toContain("session-max-exceeded");
  });

  it("a session's maximum runs from the unlock, not from a later vend", async () => {
    const h = await start();
    const { sessionId, unlockedAt } = await unlockedSince(h, 60_000);
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v1"));
    expect((await h.store.getPurchase(sessionId))?.unlockedAt).toBe(unlockedAt);
    await askedToEndAt(h, sessionId, unlockedAt + sessionMaxMs);
  });

  for (const restart of [false, true]) {
    const after = restart ? ", after a restart too (its time is stored as the session's start)" : "";
    it(`a vend whose unlocked report was lost opens the session: its maximum runs from that vend${after}`, async () => {
      const h = await start();
      const { sessionId } = await h.reservedPurchase();
      await h.clock.advance(2_000);
      const vendedAt = h.clock.now();
      await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v1"));
      expect((await h.store.getPurchase(sessionId))?.unlockedAt).toBe(vendedAt);
      if (restart) {
        await h.clock.advance(100_000);
        await h.restart();
      }
      await askedToEndAt(h, sessionId, vendedAt + sessionMaxMs);
    });
  }

  it("an unlocked report repeated while the session is open does not cancel it", async () => {
    const h = await start();
    const { sessionId } = await h.reservedPurchase();
    await h.fleet.emit("M1", "unlocked", unlockedEvent(sessionId));
    await h.fleet.emit("M1", "unlocked", unlockedEvent(sessionId));
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v1"));
    await h.fleet.emit("M1", "unlocked", unlockedEvent(sessionId));
    expect(cancels(h, sessionId)).toEqual([]);
    expect((await h.store.getPurchase(sessionId))?.state).toBe("vending");
  });

  it("an unlocked report arriving after the purchase failed is answered with a cancel", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    // The unlocked report is late: a vend is reported first, then the customer cancels the reservation at SEQR.
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v1"));
    h.seqr.cancelByCustomer(reference);
    await h.notify(reference);
    await h.waitForState(reference, "failed");
    expect(cancels(h, sessionId)).toEqual(["customer-cancelled"]);
    await h.fleet.emit("M1", "unlocked", unlockedEvent(sessionId));
    await eventually(() => expect(cancels(h, sessionId)).toEqual(["customer-cancelled", "system"]));
  });

  it("a vend at its catalog price records no reported price: the operator sees none beside the billed one", async () => {
    const h = await start();
    const { sessionId } = await h.unlockedPurchase("20.00");
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v1", 150, "A1"));
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v2", 100, "A1"));
    const vends = await h.store.listVends(sessionId);
    expect(vends.map((vend) => [vend.vendId, vend.priceMinor, vend.reportedPriceMinor])).toEqual([
      ["v1", 150, null],
      ["v2", 100, null],
    ]);
  });

  it("a vend reported again under a new event id is stored, audited and billed once", async () => {
    const h = await start();
    const { reference, sessionId } = await h.unlockedPurchase("20.00");
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v1", 200, "A2"));
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v1", 200, "A2"));
    const vended = (await h.store.listAudit(sessionId)).filter((entry) => entry.reason === "vended");
    expect(vended).toEqual([
      expect.objectContaining({ toState: "vending", detail: { vendId: "v1", priceMinor: 200, sku: "COLA-033" } }),
    ]);
    await h.fleet.emit("M1", "session-ended", sessionEndedEvent(sessionId, 1, 200));
    await h.drainOutbox();
    expect((await h.waitForState(reference, "committed")).billedMinor).toBe(200);
  });

  it("each vend's invoice rows go to SEQR at once, without waiting for the outbox's next look", async () => {
    const h = await start();
    const { sessionId } = await h.unlockedPurchase("20.00");
    await h.quiesce();
    expect(h.seqr.only().updates).toEqual([]);
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v1", 200, "A2"));
    await eventually(() => expect(h.seqr.only().updates.map((update) => update.total.minor)).toEqual([200]));
  });

  it("a failed or unknown vend reported again under a new event id is audited or flagged once", async () => {
    const h = await start();
    const { sessionId } = await h.unlockedPurchase("20.00");
    await h.fleet.emit("M1", "vend-failed", vendFailedEvent(sessionId, "v1"));
    await h.fleet.emit("M1", "vend-failed", vendFailedEvent(sessionId, "v1"));
    await h.fleet.emit("M1", "vend-unknown", vendUnknownEvent(sessionId, "v2"));
    await h.fleet.emit("M1", "vend-unknown", vendUnknownEvent(sessionId, "v2"));
    const audit = await h.store.listAudit(sessionId);
    expect(audit.filter((entry) => entry.reason === "vend-failed").map((entry) => entry.detail)).toEqual([
      { vendId: "v1", outcome: "not-delivered" },
    ]);
    expect(audit.filter((entry) => entry.reason === "reconcile:unknown-vend")).toHaveLength(1);
  });
});
