import { describe, expect, it } from "vitest";
import { bridgeConfigSchema } from "../../config/schema/bridge.ts";
import { minimalTestBridgeConfig } from "../helpers/bridge-test-config.ts";
import { describeEachStore, sessionEndedEvent, testConfig, vendedEvent } from "./helpers/harness.ts";

/**
 * Issue 15, defect 3: an `unlocked` that arrives after the unlock-ack time must not give products away. While the
 * machine may still honour the unlock (until its expiry plus the clock skew allowed between bridge and machine), the
 * reservation is kept: the ack timeout only stops offering the machine. Whatever the machine reports is committed;
 * only when the unlock can no longer be honoured and nothing was reported is the reservation cancelled.
 */

describeEachStore("an unlock acknowledged late", (start) => {
  it("an `unlocked` after the ack timeout is billed: the reservation is kept and committed", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    await h.clock.advance(h.config.timeouts.unlockAckMs + 1);
    // The machine is no longer offered, but its reservation stands.
    expect((await h.purchaseFor(reference)).state).toBe("reserved");
    expect(await h.store.machineUnavailableReason("M1")).toBe("unlock-not-acknowledged");
    expect(h.fleet.commands("cancel")).toHaveLength(0);
    expect((await h.createPurchase({ token: "M1", amount: 20, currency: "EUR" })).json).toEqual({
      errorCode: "DEVICE_UNAVAILABLE",
    });
    // The slow link delivers the machine's reports.
    await h.fleet.emit("M1", "unlocked", { sessionId, commandId: "x", budgetMinor: 2000, currency: "EUR" });
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v1", 150));
    await h.fleet.emit("M1", "session-ended", sessionEndedEvent(sessionId, 1, 150));
    await h.drainOutbox();
    const done = await h.waitForState(reference, "committed");
    expect(h.seqr.only().committed?.minor).toBe(150);
    expect(done.reconciliation).toBeNull();
    expect(await h.store.machineUnavailableReason("M1")).toBeUndefined();
  });

  it("vends reported without any `unlocked` after the ack timeout are committed", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    await h.clock.advance(h.config.timeouts.unlockAckMs + 1);
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v1", 200, "A2"));
    await h.fleet.emit("M1", "session-ended", sessionEndedEvent(sessionId, 1, 200));
    await h.drainOutbox();
    await h.waitForState(reference, "committed");
    expect(h.seqr.only().committed?.minor).toBe(200);
  });

  it("nothing reported: cancelled only once the unlock's expiry plus the clock skew has passed", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    const { unlockAckMs, commandTtlMs, clockSkewMs } = h.config.timeouts;
    await h.clock.advance(unlockAckMs + 1);
    await h.clock.advance(commandTtlMs + clockSkewMs - unlockAckMs - 2);
    // The agent could still accept the unlock on a clock that lags ours.
    expect((await h.purchaseFor(reference)).state).toBe("reserved");
    expect(h.seqr.count("cancelInvoice")).toBe(0);
    await h.clock.advance(2);
    await h.waitForState(reference, "cancelled");
    await h.drainOutbox();
    expect(h.seqr.only().status).toBe("CANCELED");
    expect(h.fleet.commands("cancel").at(-1)?.body).toEqual({ sessionId, reason: "unlock-timeout" });
    const audit = await h.store.listAudit(sessionId);
    expect(audit.find((entry) => entry.toState === "cancelled")?.reason).toBe("unlock-expired-unacknowledged");
  });

  it("after an outage longer than the commit window, an unlock that cannot be honoured is not resent", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    expect(h.fleet.commands("unlock")).toHaveLength(1);
    // The bridge is down for longer than SEQR holds the reservation, and the machine is online when it comes back.
    await h.restart({ downForMs: h.config.seqr.commitReservationTimeoutSeconds * 1_000 + 60_000 });
    await h.clock.advance(1_000);
    await h.waitForState(reference, "cancelled");
    expect(h.fleet.commands("unlock")).toHaveLength(1);
    expect(h.fleet.commands("cancel").at(-1)?.body).toMatchObject({ sessionId });
  });
});

describe("bridge config: unlock acknowledgement", () => {
  it("refuses an unlock-ack timeout shorter than the command lifetime", () => {
    expect(() => testConfig({ timeouts: { unlockAckMs: 10_000, commandTtlMs: 30_000 } })).toThrow(/unlockAckMs/);
  });

  it("the default timeouts are valid", () => {
    const config = bridgeConfigSchema.parse(minimalTestBridgeConfig());
    expect(config.timeouts.unlockAckMs).toBeGreaterThanOrEqual(config.timeouts.commandTtlMs);
  });
});
