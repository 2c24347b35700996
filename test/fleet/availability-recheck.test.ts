import { describe, expect, it } from "vitest";
import { AvailabilityRecheck, machineFlagChange } from "../../backend-bridge/fleet/availability-recheck.ts";
import type { FleetEvent } from "../../backend-bridge/fleet/fleet-link.ts";
import { silentLogger } from "../../platform/logger.ts";
import { harnessPerTest } from "../bridge/helpers/harness.ts";
import { ManualClock } from "../helpers/manual-clock.ts";

/**
 * Issue 15 defect 1: no out-of-service flag outlives its cause. The bridge clears a machine's flag when the agent says
 * it is back in service (`in-service`, or a `pong` with inService), and re-checks flagged machines with `cmd/ping`
 * instead of waiting for an availability change that a brief fault never causes.
 */

const pong = (inService: boolean | undefined) =>
  ({
    sessionId: null,
    commandId: "p-1",
    ...(inService === undefined
      ? {}
      : { inService, outOfService: inService ? null : { code: "hardware-link-down", message: "reader disabled" } }),
  }) as const;

describe("machine flags follow the agent's service reports (bridge with a fake fleet)", () => {
  const start = harnessPerTest("sqlite");

  it("fault {outOfService} takes M1 out of sale; in-service brings it back without any availability change", async () => {
    const h = await start();
    await h.fleet.emit("M1", "fault", {
      sessionId: null,
      code: "hardware-link-down",
      message: "the VMC set the reader DISABLED",
      outOfService: true,
    });
    expect((await h.createPurchase({ token: "M1", amount: 20, currency: "EUR" })).json).toEqual({
      errorCode: "DEVICE_UNAVAILABLE",
    });
    await h.fleet.emit("M1", "in-service", { sessionId: null, code: "hardware-link-down" });
    expect(await h.store.machineUnavailableReason("M1")).toBeUndefined();
    expect((await h.createPurchase({ token: "M1", amount: 20, currency: "EUR" })).json).toHaveProperty(
      "invoiceReferenceId",
    );
  });

  it("a pong that says out of service keeps the flag; one that says in service clears it", async () => {
    const h = await start();
    await h.store.setMachineUnavailable("M1", "unlock-not-acknowledged", h.clock.now());
    await h.fleet.emit("M1", "pong", pong(false));
    expect(await h.store.machineUnavailableReason("M1")).toBe("unlock-not-acknowledged");
    await h.fleet.emit("M1", "pong", pong(true));
    expect(await h.store.machineUnavailableReason("M1")).toBeUndefined();
  });

  it("a machine that answers in service while its unlock is unacknowledged gets the same unlock again", async () => {
    const h = await start();
    const { sessionId } = await h.reservedPurchase();
    const unlocks = () => h.fleet.commands("unlock", "M1");
    expect(unlocks()).toHaveLength(1);
    // The unlock went unanswered (a slow link): the machine was flagged, and now answers a re-check ping.
    await h.store.setMachineUnavailable("M1", "unlock-not-acknowledged", h.clock.now());
    await h.fleet.emit("M1", "pong", pong(true));
    await h.quiesce();
    expect(await h.store.machineUnavailableReason("M1")).toBeUndefined();
    expect(unlocks()).toHaveLength(2);
    // Same command id: an agent that already holds it refuses it as replayed, which the bridge takes as the ack.
    expect(unlocks()[1]?.commandId).toBe(unlocks()[0]?.commandId);
    expect(unlocks()[1]?.body).toMatchObject({ sessionId });
  });

  it("flagged machines that are online get cmd/ping every few seconds; others do not", async () => {
    const h = await start();
    await h.store.setMachineUnavailable("M1", "unlock-rejected:out-of-service", h.clock.now());
    expect(h.fleet.commands("ping")).toHaveLength(0);
    await h.clock.advance(5_000);
    expect(h.fleet.commands("ping").map((command) => command.machineId)).toEqual(["M1"]);
    await h.clock.advance(5_000);
    expect(h.fleet.commands("ping", "M1")).toHaveLength(2);
    // The answer clears the flag: no more pings.
    await h.fleet.emit("M1", "pong", pong(true));
    await h.clock.advance(15_000);
    expect(h.fleet.commands("ping", "M1")).toHaveLength(2);
    expect(h.fleet.commands("ping", "M2")).toHaveLength(0);
    // An offline flagged machine is not pinged (nothing to reach); it is re-checked when it comes back.
    h.fleet.setOnline("M2", false);
    await h.store.setMachineUnavailable("M2", "fault:serial-closed", h.clock.now());
    await h.clock.advance(10_000);
    expect(h.fleet.commands("ping", "M2")).toHaveLength(0);
  });
});

describe("machineFlagChange (pure)", () => {
  const event = (name: string, payload: Record<string, unknown>) =>
    ({ machineId: "M1", name, payload: { eventId: "e", seq: 1, ts: 1, ...payload } }) as unknown as FleetEvent;

  it("maps the service reports to a flag change, and nothing else", () => {
    expect(
      machineFlagChange(event("fault", { sessionId: null, code: "jam", message: "m", outOfService: true })),
    ).toEqual({ kind: "set", reason: "fault:jam" });
    expect(
      machineFlagChange(event("fault", { sessionId: null, code: "x", message: "m", outOfService: false })),
    ).toBeUndefined();
    expect(machineFlagChange(event("in-service", { sessionId: null, code: "jam" }))).toEqual({ kind: "clear" });
    expect(machineFlagChange(event("pong", pong(true)))).toEqual({ kind: "clear" });
    expect(machineFlagChange(event("pong", pong(false)))).toBeUndefined();
    // An agent of an older contract says nothing about its service: no conclusion either way.
    expect(machineFlagChange(event("pong", pong(undefined)))).toBeUndefined();
    expect(machineFlagChange(event("unlocked", { sessionId: "s" }))).toBeUndefined();
  });
});

describe("AvailabilityRecheck on the bridge's own reconnect (issue 15 defect 2)", () => {
  it("resends the pending unlocks of online machines when the bridge's link comes back", async () => {
    const clock = new ManualClock();
    const listeners: ((connected: boolean) => void)[] = [];
    const resent: string[] = [];
    const online = new Set(["M1", "M3"]);
    const recheck = new AvailabilityRecheck({
      fleet: {
        isOnline: (machineId) => online.has(machineId),
        send: async () => "c",
        onConnectionChange: (listener) => listeners.push(listener),
      },
      store: {
        listUnavailableMachines: async () => [],
        listOpenPurchases: async () =>
          [
            { machineId: "M1", state: "reserved" },
            { machineId: "M2", state: "reserved" },
            { machineId: "M3", state: "unlocked" },
          ] as never,
      },
      resendUnlock: async (machineId) => {
        resent.push(machineId);
      },
      clock,
      logger: silentLogger(),
      intervalMs: 5_000,
      pingTtlMs: 30_000,
    });
    recheck.start();
    try {
      expect(listeners).toHaveLength(1);
      listeners[0]?.(false);
      await clock.advance(0);
      expect(resent).toEqual([]);
      listeners[0]?.(true);
      await clock.advance(0);
      // M2 is offline: its unlock goes when its `online` arrives (the availability listener); M3 is already unlocked.
      expect(resent).toEqual(["M1"]);
    } finally {
      await recheck.stop();
    }
  });
});
