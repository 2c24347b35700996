import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { mdbRig } from "./rigs.ts";

/**
 * The MDB driver when the VMC's lines do not follow the happy path during a vend: a new VEND REQUEST before the
 * result, a well-formed VEND SUCCESS that belongs to no approved vend, the reader disabled mid-vend. In each case no
 * vend is reported delivered (billed) without its own VEND SUCCESS. Fake timers drive every timeout.
 */

async function settle(ms = 0) {
  await vi.advanceTimersByTimeAsync(ms);
}

async function vendInFlight(options: Parameters<typeof mdbRig>[0] = {}) {
  const rig = mdbRig({ ...options, vmc: { vendDurationMs: 300, ...options.vmc } });
  const started = rig.mechanism.start();
  await settle(10);
  await started;
  await Promise.all([rig.mechanism.openSession(2_000), settle(1)]);
  return rig;
}

describe("MDB driver: what the VMC says during a vend", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("a new VEND REQUEST before the result: the vend in flight is unknown, never delivered, and the new one is asked", async () => {
    const { vmc, mechanism, seen } = await vendInFlight();
    vmc.nextResults.push("no-reply"); // the VMC never reports the first vend's result
    vmc.customerSelects(11, "1.50");
    await settle(1);
    const outcome = mechanism.vend("A1", 150, 1);
    await settle(1);
    expect(vmc.approvals).toEqual(["1.50"]);

    vmc.inject("c,STATUS,VEND,2.00,12\n");
    await settle(1);
    await expect(outcome).resolves.toMatchObject({ outcome: "unknown", evidence: "restart" });
    expect(seen.selections.map((request) => [request.selection, request.requestId])).toEqual([
      ["A1", 1],
      ["A2", 2],
    ]);
    // A VEND SUCCESS now belongs to no approved vend (A2 was never approved): nothing changes.
    vmc.inject("c,VEND,SUCCESS\n");
    await settle(1);
    await expect(outcome).resolves.toMatchObject({ outcome: "unknown" });
    await mechanism.stop();
  });

  it("a well-formed stray VEND SUCCESS is ignored: it neither settles a later vend nor stops the protocol", async () => {
    const { vmc, mechanism, seen } = await vendInFlight();
    // Nothing approved, nothing pending: ignored.
    vmc.inject("c,VEND,SUCCESS\n");
    await settle(1);
    expect(mechanism.isUp()).toBe(true);

    // A request pending (not yet approved) and a stray success: the vend approved afterwards gets its own result.
    vmc.nextResults.push("failure");
    vmc.customerSelects(11, "1.50");
    await settle(1);
    vmc.inject("c,VEND,SUCCESS\n");
    await settle(1);
    const outcome = mechanism.vend("A1", 150, seen.selections[0]?.requestId);
    await settle(300);
    await expect(outcome).resolves.toMatchObject({ outcome: "not-delivered", evidence: "vend-failure" });
    expect(vmc.approvals).toEqual(["1.50"]);
    await mechanism.stop();
  });

  it("the reader disabled mid-vend: the vend is unknown, the session closed by the machine, the link down until re-enabled", async () => {
    const { vmc, mechanism, seen } = await vendInFlight();
    vmc.nextResults.push("no-reply");
    vmc.customerSelects(12, "2.00");
    await settle(1);
    const outcome = mechanism.vend("A2", 200, 1);
    await settle(1);
    expect(vmc.approvals).toEqual(["2.00"]);

    vmc.inject("c,STATUS,DISABLED\n");
    await settle(1);
    await expect(outcome).resolves.toMatchObject({ outcome: "unknown", evidence: "restart" });
    expect(seen.closed).toEqual(["reader disabled by the VMC"]);
    expect(seen.links.at(-1)).toBe("down");
    expect(mechanism.isUp()).toBe(false);
    // A late success for the abandoned vend changes nothing.
    vmc.inject("c,VEND,SUCCESS\n");
    await settle(1);
    await expect(outcome).resolves.toMatchObject({ outcome: "unknown" });

    vmc.inject("c,STATUS,ENABLED\n");
    await settle(1);
    expect(seen.links.at(-1)).toBe("up");
    expect(mechanism.isUp()).toBe(true);
    await mechanism.stop();
  });
});
