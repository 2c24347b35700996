import { expect, it } from "vitest";
import { describeEachStore, vendedEvent } from "./helpers/harness.ts";

/**
 * After a bridge restart with a purchase in `reserved`, the unlock goes again (same command id) once the machine is
 * seen online. A machine that already holds it answers command-rejected{replayed}: that is the acknowledgement, and
 * the unlock-ack timer runs from the latest (re)send, never from a time when nobody could have received it.
 */

describeEachStore("unlock acknowledgement", (start) => {
  it("a replayed-unlock refusal for this purchase's unlock is the acknowledgement; the timer restarts at each resend", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    const first = h.fleet.commands("unlock")[0]!;
    // The bridge restarts before its fleet link (and so the machine) is back.
    await h.restartWithMachineOffline();
    await h.clock.advance(8_000);
    // The machine is seen online 8 s after the restart: the unlock goes again, with a full unlockAckMs to answer.
    h.fleet.setOnline("M1");
    await h.quiesce();
    const unlocks = h.fleet.commands("unlock");
    expect(unlocks).toHaveLength(2);
    expect(unlocks[1]?.commandId).toBe(first.commandId);
    await h.clock.advance(6_000);
    expect((await h.purchaseFor(reference)).state).toBe("reserved");
    // The machine already has that unlock (its `unlocked` went to no subscriber): it refuses the replay.
    await h.fleet.emit("M1", "command-rejected", {
      sessionId,
      commandId: first.commandId,
      command: "unlock",
      reason: "replayed",
      detail: "seen",
    });
    expect((await h.purchaseFor(reference)).state).toBe("unlocked");
    const audit = await h.store.listAudit(sessionId);
    expect(audit.some((entry) => entry.toState === "unlocked" && entry.reason === "unlock-replayed")).toBe(true);
    // Well past the unlock-ack time: nothing is cancelled, the machine stays available.
    await h.clock.advance(30_000);
    expect((await h.purchaseFor(reference)).state).toBe("unlocked");
    expect(h.fleet.commands("cancel")).toHaveLength(0);
    expect(await h.store.machineUnavailableReason("M1")).toBeUndefined();
    // The agent's own `unlocked` arrives later: a harmless duplicate. Vends are billed as usual.
    await h.fleet.emit("M1", "unlocked", { sessionId, commandId: first.commandId, budgetMinor: 2000, currency: "EUR" });
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v1", 250));
    await h.fleet.emit("M1", "session-ended", {
      sessionId,
      reason: "customer-done",
      vendedCount: 1,
      vendedTotalMinor: 250,
      unknownCount: 0,
      currency: "EUR",
    });
    await h.drainOutbox();
    const done = await h.waitForState(reference, "committed");
    expect(h.seqr.only().committed?.minor).toBe(250);
    expect(done.reconciliation).toBeNull();
  });

  it("without any answer the resent unlock still times out: unavailable after unlockAckMs, cancelled after its expiry", async () => {
    const h = await start();
    const reference = await h.purchase();
    await h.reserve(reference);
    await h.restartWithMachineOffline();
    await h.clock.advance(8_000);
    h.fleet.setOnline("M1");
    await h.quiesce();
    await h.clock.advance(9_000);
    expect(await h.store.machineUnavailableReason("M1")).toBeUndefined();
    await h.clock.advance(1_000);
    expect(await h.store.machineUnavailableReason("M1")).toBe("unlock-not-acknowledged");
    // The resent unlock expires 10 s after it went, plus 5 s of clock skew.
    await h.clock.advance(4_000);
    expect((await h.purchaseFor(reference)).state).toBe("reserved");
    await h.clock.advance(1_000);
    await h.waitForState(reference, "cancelled");
  });

  it("session-ended while the unlock is unacknowledged: the invoice is cancelled and the machine told to cancel", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    // The agent gave up on payment-pending before the unlock reached it.
    await h.fleet.emit("M1", "session-ended", {
      sessionId,
      reason: "payment-timeout",
      vendedCount: 0,
      vendedTotalMinor: 0,
      unknownCount: 0,
      currency: "EUR",
    });
    await h.waitForState(reference, "cancelled");
    const cancels = h.fleet.commands("cancel", "M1");
    expect(cancels).toHaveLength(1);
    expect(cancels[0]?.body).toMatchObject({ sessionId, reason: "payment-timeout" });
    await h.drainOutbox();
    expect(h.seqr.only().status).toBe("CANCELED");
    expect(h.seqr.count("commitReservation")).toBe(0);
  });

  it("a replayed refusal of some other command id is not an acknowledgement", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    await h.fleet.emit("M1", "command-rejected", {
      sessionId,
      commandId: "not-our-unlock",
      command: "unlock",
      reason: "replayed",
      detail: "seen",
    });
    expect((await h.purchaseFor(reference)).state).toBe("reserved");
    await h.clock.advance(15_000);
    await h.waitForState(reference, "cancelled");
  });
});
