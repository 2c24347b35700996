import { expect, it } from "vitest";
import { describeEachStore, sessionEndedEvent, vendedEvent } from "./helpers/harness.ts";

/**
 * The bridge stops mid-session (its timers and connections gone, nothing more done by it) and a new one starts on the
 * same database: every purchase is finished correctly from what the store holds.
 */

describeEachStore("restart and recovery", (start) => {
  it("restarted while waiting for the payment: polling resumes and the purchase completes", async () => {
    const h = await start();
    const reference = await h.purchase();
    await h.restart();
    h.seqr.confirm(reference);
    await h.clock.advance(3_000);
    const { sessionId } = await h.waitForState(reference, "reserved");
    await h.fleet.emit("M1", "unlocked", { sessionId, commandId: "x", budgetMinor: 2000, currency: "EUR" });
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v1"));
    await h.fleet.emit("M1", "session-ended", sessionEndedEvent(sessionId, 1, 150));
    await h.drainOutbox();
    await h.waitForState(reference, "committed");
    expect(h.seqr.only().committed?.minor).toBe(150);
  });

  it("restarted while waiting for the payment: the confirmation deadline still cancels", async () => {
    const h = await start();
    const reference = await h.purchase();
    await h.clock.advance(60_000);
    await h.restart();
    await h.clock.advance(60_000);
    await h.waitForState(reference, "cancelled");
    await h.drainOutbox();
    expect(h.seqr.only().status).toBe("CANCELED");
  });

  it("restarted after the reservation: the unlock is sent again with the same command id", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    const first = h.fleet.commands("unlock")[0]!;
    await h.restart();
    const unlocks = h.fleet.commands("unlock");
    expect(unlocks).toHaveLength(2);
    expect(unlocks[1]?.commandId).toBe(first.commandId);
    await h.fleet.emit("M1", "unlocked", { sessionId, commandId: first.commandId, budgetMinor: 2000, currency: "EUR" });
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v1", 200));
    await h.fleet.emit("M1", "session-ended", sessionEndedEvent(sessionId, 1, 200));
    await h.drainOutbox();
    await h.waitForState(reference, "committed");
    expect(h.seqr.only().committed?.minor).toBe(200);
  });

  it("restarted after the reservation with the machine not (yet) online: the unlock goes when it comes online", async () => {
    const h = await start();
    const { sessionId } = await h.reservedPurchase();
    const first = h.fleet.commands("unlock")[0]!;
    // The bridge restarts before its MQTT link (and the machine) are back: nobody could receive an unlock now.
    await h.restartWithMachineOffline();
    expect(h.fleet.commands("unlock")).toHaveLength(1);
    h.fleet.setOnline("M1");
    await h.quiesce();
    const unlocks = h.fleet.commands("unlock");
    expect(unlocks).toHaveLength(2);
    expect(unlocks[1]?.commandId).toBe(first.commandId);
    expect(unlocks[1]?.body).toMatchObject({ sessionId, budgetMinor: 2000, currency: "EUR" });
    // Online again once the session is unlocked: nothing is resent.
    await h.fleet.emit("M1", "unlocked", { sessionId, commandId: first.commandId, budgetMinor: 2000, currency: "EUR" });
    h.fleet.setOnline("M1", false);
    h.fleet.setOnline("M1");
    await h.quiesce();
    expect(h.fleet.commands("unlock")).toHaveLength(2);
  });

  it("restarted mid-vending: vends stored before the crash are billed with those resent after it, once", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    await h.fleet.emit("M1", "unlocked", { sessionId, commandId: "x", budgetMinor: 2000, currency: "EUR" });
    const v1 = { ...vendedEvent(sessionId, "v1"), eventId: "ev-v1" };
    await h.fleet.emit("M1", "vended", v1);
    await h.restart();
    // The agent resends what was not acknowledged (v1 again) and goes on.
    await h.fleet.emit("M1", "vended", v1);
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v2", 200));
    await h.fleet.emit("M1", "session-ended", sessionEndedEvent(sessionId, 2, 350));
    await h.drainOutbox();
    await h.waitForState(reference, "committed");
    expect(h.seqr.only().committed?.minor).toBe(350);
    expect(h.seqr.only().commitCount).toBe(1);
  });

  it("restarted after session-ended with a vend still missing: finishes when it arrives", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    await h.fleet.emit("M1", "unlocked", { sessionId, commandId: "x", budgetMinor: 2000, currency: "EUR" });
    await h.fleet.emit("M1", "session-ended", sessionEndedEvent(sessionId, 1, 150));
    await h.restart();
    expect((await h.purchaseFor(reference)).state).toBe("unlocked");
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v1"));
    await h.drainOutbox();
    await h.waitForState(reference, "committed");
    expect(h.seqr.only().committed?.minor).toBe(150);
  });

  it("restarted while committing after a lost commit answer: the status check finishes it without a second commit", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    h.seqr.fail("commitReservation", "timeout", { when: "after" });
    await h.fleet.emit("M1", "unlocked", { sessionId, commandId: "x", budgetMinor: 2000, currency: "EUR" });
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v1"));
    await h.fleet.emit("M1", "session-ended", sessionEndedEvent(sessionId, 1, 150));
    await h.drainOutbox();
    expect((await h.purchaseFor(reference)).state).toBe("committing");
    await h.restart();
    await h.clock.advance(2_000);
    await h.drainOutbox();
    await h.waitForState(reference, "committed");
    expect(h.seqr.count("commitReservation")).toBe(1);
    expect(h.seqr.only().commitCount).toBe(1);
  });

  it("a claim left by a crash inside sendInvoice is released after the call timeout", async () => {
    const h = await start();
    await h.store.claimMachine({
      sessionId: "sCrashed",
      machineId: "M1",
      amountMinor: 2000,
      currency: "EUR",
      msisdn: "46700000000",
      notifySecret: "n".repeat(43),
      at: h.clock.now(),
    });
    await h.restart();
    expect((await h.createPurchase({ token: "M1", amount: 20, currency: "EUR" })).json).toEqual({
      errorCode: "DEVICE_IN_USE",
    });
    await h.clock.advance(15_000);
    await h.quiesce();
    const crashed = await h.store.getPurchase("sCrashed");
    expect(crashed?.state).toBe("failed");
    expect(crashed?.msisdn).toBe("*********00");
    expect((await h.createPurchase({ token: "M1", amount: 20, currency: "EUR" })).json).toHaveProperty(
      "invoiceReferenceId",
    );
  });
});
