import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { mdbRig, settle, startedMdbRig } from "./rigs.ts";

/**
 * The MDB driver while it sets the adapter up (issue 16: mutation score of hardware/mdb/mdb-cashless-mechanism.ts):
 * what the setup conversation retries and for how long, which answer belongs to which step, when the idle heartbeat
 * speaks, and that a reader that is not set up never takes a vend. Simulated VMC, fake clock.
 */

describe("MDB driver: a vend request while the reader is not set up", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const alwaysIdle = { alwaysIdle: true, vendTimeoutS: 30, approvalTimeoutMs: 3_000 };

  it("selection first during the first setup: denied with C,VEND,-1, never offered to the agent, never approved", async () => {
    const rig = mdbRig({ vmc: { replyDelayMs: 50 }, settings: alwaysIdle });
    rig.mechanism.start().catch(() => {});
    await settle(120); // C,0 answered, the settings under way: the link is not up
    expect(rig.mechanism.isUp()).toBe(false);
    rig.vmc.inject("c,STATUS,VEND,1.50,11\n");
    await settle(1);
    expect(rig.seen.selections).toEqual([]);
    expect(rig.vmc.received).toContain("C,VEND,-1");
    expect(await rig.mechanism.vend("A1", 150)).toMatchObject({ outcome: "not-delivered", evidence: "none" });
    // The adapter's answer to that deny (VEND -3: no request on its side) is no refusal of a setting.
    await settle(2_000);
    expect(rig.mechanism.isUp()).toBe(true);
    expect(rig.vmc.received.filter((line) => line === "C,0")).toHaveLength(1);
    expect(rig.vmc.received.filter((line) => /^C,VEND,\d/.test(line))).toEqual([]);
    expect(rig.vmc.approvals).toEqual([]);
    await rig.mechanism.stop();
  });

  it("selection first while the adapter is set up again on the open port (it rebooted): denied, not held", async () => {
    const rig = await startedMdbRig({
      vmc: { pollAckIntervalMs: 200 },
      settings: { ...alwaysIdle, pollSilenceMs: 1_000 },
    });
    expect(rig.mechanism.isUp()).toBe(true);
    rig.vmc.setReplyDelay(50);
    rig.vmc.reboot();
    await settle(1_100); // the r,ACK silence shows the reboot: the setup runs again, C,0 answered
    expect(rig.vmc.received.filter((line) => line === "C,0")).toHaveLength(2);
    expect(rig.mechanism.isUp()).toBe(false);
    rig.vmc.inject("c,STATUS,VEND,2.00,12\n");
    await settle(1);
    expect(rig.seen.selections).toEqual([]);
    expect(rig.vmc.received.filter((line) => line === "C,VEND,-1")).toHaveLength(1);
    // A stale ENABLED in the middle of the setup does not make the reader ready for a vend either.
    rig.vmc.inject("c,STATUS,ENABLED\nc,STATUS,VEND,2.00,12\n");
    await settle(1);
    expect(rig.seen.selections).toEqual([]);
    expect(rig.vmc.received.filter((line) => line === "C,VEND,-1")).toHaveLength(2);
    await settle(2_000);
    expect(rig.mechanism.isUp()).toBe(true);
    expect(rig.vmc.setupCount).toBe(2);
    expect(rig.vmc.approvals).toEqual([]);
    await rig.mechanism.stop();
  });
});
