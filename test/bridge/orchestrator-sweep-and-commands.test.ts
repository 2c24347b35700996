import { expect, it } from "vitest";
import { capturedLogs } from "../helpers/captured-logs.ts";
import { describeEachStore, type StartHarness } from "./helpers/harness.ts";

/**
 * The orchestrator's commands to machines and its periodic work, where the mutation run (issue 16) found nothing
 * checked: the lifetime each command asks for, a machine going offline (nothing is resent, no flag is cleared), the
 * flagged machine pinged every 5 s, the sweep asking SEQR only about payments no timer of its own polls, and the sweep
 * taking over a deadline only once it is more than one sweep interval old and no timer of this instance handled it.
 */

type Line = Record<string, unknown>;

async function loggedHarness(start: StartHarness, overrides: Record<string, unknown> = {}) {
  const { logger, lines } = capturedLogs("info");
  const h = await start(overrides, { logger });
  const takenOver = (): Line[] =>
    lines.filter((line) => line.module === "purchase" && line.msg === "taking over an overdue purchase");
  return { h, takenOver };
}

describeEachStore("orchestrator: commands and the sweep", (start) => {
  it("payment-pending, unlock and cancel each ask for the command lifetime", async () => {
    const h = await start({ timeouts: { commandTtlMs: 7_000 } });
    const { reference, sessionId } = await h.reservedPurchase();
    h.seqr.cancelByCustomer(reference);
    await h.notify(reference);
    await h.waitForState(reference, "cancelled");
    const sent = h.fleet.sent.map(({ name, body, ttlMs }) => ({ name, body, ttlMs }));
    expect(sent).toEqual([
      { name: "payment-pending", body: { sessionId, amountMinor: 2000, currency: "EUR" }, ttlMs: 7_000 },
      { name: "unlock", body: { sessionId, budgetMinor: 2000, currency: "EUR" }, ttlMs: 7_000 },
      { name: "cancel", body: { sessionId, reason: "customer-cancelled" }, ttlMs: 7_000 },
    ]);
  });

  it("a machine going offline resends nothing and keeps its flag", async () => {
    const h = await start();
    await h.reservedPurchase();
    h.fleet.setOnline("M1", false);
    await h.quiesce();
    expect(h.fleet.commands("unlock")).toHaveLength(1);
    await h.store.setMachineUnavailable("M1", "fault:motor-jam", h.clock.now());
    h.fleet.setOnline("M1", false);
    await h.quiesce();
    expect(await h.store.machineUnavailableReason("M1")).toBe("fault:motor-jam");
    h.fleet.setOnline("M1");
    await h.quiesce();
    expect(await h.store.machineUnavailableReason("M1")).toBeUndefined();
    expect(h.fleet.commands("unlock")).toHaveLength(2);
  });

  it("a flagged machine that is online is pinged every 5 s, with the command lifetime", async () => {
    const h = await start();
    await h.store.setMachineUnavailable("M1", "fault:motor-jam", h.clock.now());
    await h.clock.advance(4_999);
    expect(h.fleet.commands("ping")).toHaveLength(0);
    await h.clock.advance(1);
    expect(h.fleet.commands("ping")).toEqual([expect.objectContaining({ machineId: "M1", ttlMs: 10_000 })]);
    await h.clock.advance(5_000);
    expect(h.fleet.commands("ping")).toHaveLength(2);
  });

  it("the sweep asks SEQR nothing about a payment this instance polls itself", async () => {
    const h = await start();
    await h.purchase();
    // Polls at 3, 6, ..., 30 s; sweeps at 10, 20 and 30 s add nothing.
    await h.clock.advance(30_000);
    expect(h.seqr.count("getPaymentStatus")).toBe(10);
  });

  it("the sweep takes over an unanswered unlock only once the deadline is more than one sweep interval old", async () => {
    const { h, takenOver } = await loggedHarness(start, { timeouts: { clockSkewMs: 60_000 } });
    // Sweeps run every 10 s from the start; the unlock goes at 10 s, its acknowledgement is due at 20 s.
    await h.clock.advance(10_000);
    const { sessionId } = await h.reservedPurchase();
    await h.clock.advance(20_000);
    expect(takenOver()).toEqual([]);
    await h.clock.advance(10_000);
    expect(takenOver()).toEqual([expect.objectContaining({ sessionId, overdue: "unlock-ack" })]);
  });

  it("a session-max this instance's timer declared is not taken over by its later sweeps", async () => {
    const { h, takenOver } = await loggedHarness(start, { timeouts: { sessionMaxMs: 20_000 } });
    const { sessionId } = await h.reservedPurchase();
    await h.fleet.emit("M1", "unlocked", { sessionId, commandId: "x", budgetMinor: 2000, currency: "EUR" });
    await h.clock.advance(20_000);
    expect(h.fleet.commands("cancel").map((command) => command.body)).toEqual([{ sessionId, reason: "system" }]);
    await h.clock.advance(40_000);
    expect(takenOver()).toEqual([]);
    expect(h.fleet.commands("cancel")).toHaveLength(1);
  });
});
