import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { mdbRig, settle, startedMdbRig, timeline } from "./rigs.ts";

/**
 * The MDB driver while it sets the adapter up (issue 16: mutation score of hardware/mdb/mdb-cashless-mechanism.ts):
 * what the setup conversation retries and for how long, which answer belongs to which step, when the idle heartbeat
 * speaks, and that a reader that is not set up never takes a vend. Simulated VMC, fake clock.
 */

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("MDB driver: a vend request while the reader is not set up", () => {
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

  it("selection first before the VMC enables the reader (setup done): denied, not held", async () => {
    const rig = mdbRig({ vmc: { vmcEnableDelayMs: 3_000 }, settings: alwaysIdle });
    rig.mechanism.start().catch(() => {});
    await settle(1_000);
    expect(rig.vmc.received).toContain("C,1");
    rig.vmc.inject("c,STATUS,VEND,1.50,11\n");
    await settle(1);
    expect(rig.seen.selections).toEqual([]);
    expect(rig.vmc.received).toContain("C,VEND,-1");
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

describe("MDB driver: a stale ENABLED while the adapter is set up again on the open port", () => {
  it("reports no link up while the setup runs; up once the setup is done and the VMC enables the reader again", async () => {
    const rig = await startedMdbRig({ vmc: { pollAckIntervalMs: 200 }, settings: { pollSilenceMs: 1_000 } });
    expect(rig.seen.links).toEqual(["up"]);
    rig.vmc.setReplyDelay(50);
    rig.vmc.reboot();
    await settle(1_100); // the r,ACK silence shows the reboot: down, and the setup runs again (C,0 answered)
    expect(rig.seen.links).toEqual(["up", "down"]);
    rig.vmc.inject("c,STATUS,ENABLED\n"); // from before the reboot, or a line the adapter printed out of turn
    await settle(1);
    expect(rig.mechanism.isUp()).toBe(false);
    expect(rig.seen.links).toEqual(["up", "down"]);
    await settle(2_000); // setup done (C,1 answered), and the simulated VMC enables the reader again
    expect(rig.vmc.setupCount).toBe(2);
    expect(rig.mechanism.isUp()).toBe(true);
    expect(rig.seen.links).toEqual(["up", "down", "up"]);
    await rig.mechanism.stop();
  });
});

describe("MDB driver: the setup conversation", () => {
  /** When each C,0 went out, in ms after the first. */
  function disablesAt(sent: ReturnType<typeof timeline>): number[] {
    const at = sent.filter((entry) => entry.line === "C,0").map((entry) => entry.at);
    return at.map((time) => time - (at[0] ?? 0));
  }

  it("an unanswered step is sent 3 times, 250 then 500 ms apart after each reply timeout; then the port is reopened", async () => {
    const rig = mdbRig({ vmc: { replyDelayMs: Number.POSITIVE_INFINITY } });
    const sent = timeline(rig.vmc);
    rig.mechanism.start().catch(() => {});
    await settle(3_700);
    expect(disablesAt(sent)).toEqual([0, 1_250, 2_750]);
    expect(rig.port.openCount).toBe(1);
    // The third attempt's reply timeout ends the setup: the port is reopened (backoff 75 ms) and C,0 goes out again.
    await settle(400);
    expect(rig.port.openCount).toBe(2);
    expect(disablesAt(sent)).toHaveLength(4);
    await rig.mechanism.stop();
  });

  it("setupAttempts bounds the attempts; the reply timeout is 2 s when unset", async () => {
    const rig = mdbRig({
      vmc: { replyDelayMs: Number.POSITIVE_INFINITY },
      settings: { setupAttempts: 2, replyTimeoutMs: undefined },
    });
    const sent = timeline(rig.vmc);
    rig.mechanism.start().catch(() => {});
    await settle(4_100);
    expect(disablesAt(sent)).toEqual([0, 2_250]);
    expect(rig.port.openCount).toBe(1);
    await settle(300);
    expect(rig.port.openCount).toBe(2);
    await rig.mechanism.stop();
  });

  it("C,0 or C,1 refused by the adapter fails the setup: the port is reopened and the setup runs again", async () => {
    for (const refusedCommand of ["C,0", "C,1"]) {
      const rig = mdbRig();
      let refusals = 0;
      rig.vmc.on("line", (line) => {
        if (line === refusedCommand && refusals++ === 0) rig.vmc.inject('c,ERR,"BUSY"\n');
      });
      rig.mechanism.start().catch(() => {});
      await settle(1_000);
      expect(refusals).toBe(2);
      expect(rig.port.openCount).toBe(2);
      expect(rig.mechanism.isUp()).toBe(true);
      await rig.mechanism.stop();
    }
  });

  it("a refused required setting fails the setup: C,1 is never sent", async () => {
    const rig = mdbRig({ vmc: { acceptedKeys: ["mdb-address", "mdb-scale-factor", "mdb-decimal-places"] } });
    rig.mechanism.start().catch(() => {});
    await settle(2_000);
    expect(rig.vmc.received).toContain("C,SETCONF,mdb-currency-code=0x1978");
    expect(rig.vmc.received).not.toContain("C,1");
    expect(rig.port.openCount).toBeGreaterThan(1);
    expect(rig.mechanism.isUp()).toBe(false);
    await rig.mechanism.stop();
  });

  it("setting values: the vend timeout is the approval timeout rounded up plus 2 s, or 60 s selection first", async () => {
    const rounded = await startedMdbRig({ settings: { approvalTimeoutMs: 2_500 } });
    expect(rounded.vmc.config.get("mdb-timeout-vend")).toBe("5");
    await rounded.mechanism.stop();
    const selectionFirst = await startedMdbRig({
      settings: { alwaysIdle: true, sessionIdleTimeoutS: 90, restoreFunds: false },
    });
    expect(Object.fromEntries(selectionFirst.vmc.config)).toMatchObject({
      "mdb-always-idle": "1",
      "mdb-timeout-idle": "90",
      "mdb-timeout-vend": "60",
      "mdb-restore-funds": "0",
    });
    await selectionFirst.mechanism.stop();
  });

  it("lines that answer no step (r,ACK, a status, a stray success) do not count as the answer: each command goes once", async () => {
    const rig = mdbRig({ vmc: { replyDelayMs: 20 } });
    rig.vmc.on("line", (line) => {
      if (line.startsWith("C,")) rig.vmc.inject("r,ACK\nc,STATUS,IDLE\nc,VEND,SUCCESS\n");
    });
    rig.mechanism.start().catch(() => {});
    await settle(1_000);
    expect(rig.mechanism.isUp()).toBe(true);
    const commands = rig.vmc.received.filter((line) => line.startsWith("C,"));
    expect(commands).toHaveLength(new Set(commands).size);
    await rig.mechanism.stop();
  });

  it("garbage is no sign of life; a protocol line is", async () => {
    const rig = await startedMdbRig({ vmc: { pollAckIntervalMs: 0 } });
    const before = rig.mechanism.lastSignOfLifeAt();
    await settle(1_000);
    rig.vmc.inject("zzz not adapter protocol\n");
    rig.vmc.inject(`${"x".repeat(300)}\n`); // longer than a line can be: dropped by the framer, counted too
    await settle(1);
    expect(rig.mechanism.lastSignOfLifeAt()).toBe(before);
    expect(rig.mechanism.garbageLineCount).toBe(2);
    rig.vmc.inject("r,ACK\n");
    await settle(1);
    expect(rig.mechanism.lastSignOfLifeAt()).toBeGreaterThanOrEqual((before ?? 0) + 1_000);
    await rig.mechanism.stop();
  });
});

describe("MDB driver: starting", () => {
  it("start() resolves, and the link is reported up, only once the VMC enables the reader", async () => {
    const rig = mdbRig({ vmc: { vmcEnableDelayMs: 3_000 } });
    let started = false;
    void rig.mechanism.start().then(() => {
      started = true;
    });
    await settle(1_000); // set up, the port open: the VMC has not enabled the reader yet
    expect(rig.vmc.received).toContain("C,1");
    expect(started).toBe(false);
    expect(rig.seen.links).toEqual([]);
    await settle(2_100);
    expect(started).toBe(true);
    expect(rig.seen.links).toEqual(["up"]);
    await rig.mechanism.stop();
  });

  it("a stale ENABLED during a setup that then fails reports no link up; the setup that succeeds does", async () => {
    const rig = mdbRig({ vmc: { replyDelayMs: 20 } });
    let refusals = 0;
    rig.vmc.on("line", (line) => {
      if (line === "C,0" && refusals === 0) rig.vmc.inject("c,STATUS,ENABLED\n");
      if (line === "C,1" && refusals++ === 0) rig.vmc.inject('c,ERR,"BUSY"\n');
    });
    rig.mechanism.start().catch(() => {});
    for (let waited = 0; refusals === 0 && waited < 2_000; waited += 10) await settle(10);
    await settle(30); // C,1 refused: the setup failed, the port is about to be reopened
    expect(rig.port.openCount).toBe(1);
    expect(rig.seen.links).toEqual([]);
    await settle(2_000);
    expect(rig.port.openCount).toBe(2);
    expect(rig.seen.links).toEqual(["up"]);
    await rig.mechanism.stop();
  });

  it("a port that cannot be opened is a fault that puts the machine out of service", async () => {
    const rig = mdbRig({ connect: () => Promise.reject(new Error("ENOENT: no such file or directory")) });
    const faults: unknown[] = [];
    rig.mechanism.on("fault", (fault) => faults.push(fault));
    rig.mechanism.start().catch(() => {});
    await settle(10);
    expect(faults[0]).toEqual({ code: "serial-missing", message: expect.any(String), outOfService: true });
    await rig.mechanism.stop();
  });
});

describe("MDB driver: the idle heartbeat", () => {
  it("no V while a request waits or a vend is under way, nor during a new setup; one a period otherwise, after it too", async () => {
    const rig = await startedMdbRig({
      vmc: { pollAckIntervalMs: 200 },
      settings: { heartbeatMs: 1_000, approvalTimeoutMs: 10_000, vendResultTimeoutMs: 30_000, pollSilenceMs: 1_000 },
    });
    const versions = () => rig.vmc.received.filter((line) => line === "V").length;
    await Promise.all([rig.mechanism.openSession(1_000), settle(1)]);
    let before = versions();
    rig.vmc.customerSelects(11, "1.50");
    await settle(5_000);
    expect(versions()).toBe(before);
    rig.vmc.nextResults.push({ successAfterMs: 5_000 });
    const outcome = rig.mechanism.vend("A1", 150, 1);
    await settle(4_900);
    expect(versions()).toBe(before);
    await settle(200);
    await expect(outcome).resolves.toMatchObject({ outcome: "delivered" });
    before = versions();
    await settle(5_000);
    expect(versions()).toBe(before + 5);

    // The adapter reboots; the setup runs again with slow answers (100 ms each): the heartbeat keeps out of it.
    rig.vmc.setReplyDelay(100);
    rig.vmc.reboot();
    await settle(4_000);
    expect(rig.mechanism.isUp()).toBe(true);
    const setupLines = rig.vmc.received.slice(rig.vmc.received.lastIndexOf("C,0"), rig.vmc.received.lastIndexOf("C,1"));
    expect(setupLines.length).toBeGreaterThan(8);
    expect(setupLines).not.toContain("V");
    rig.vmc.setReplyDelay(0);
    before = versions();
    await settle(10_000);
    expect(versions()).toBe(before + 10);
    await rig.mechanism.stop();
  });
});

describe("MDB driver: each answer goes to the step that waits for it", () => {
  it("a C,STOP that times out, or is answered, takes no other waiter with it: the next START's answer still counts", async () => {
    const rig = await startedMdbRig({ vmc: { pollAckIntervalMs: 0 } });
    for (const stopAnswer of [undefined, "c,STATUS,ENABLED\n"]) {
      await Promise.all([rig.mechanism.openSession(500), settle(1)]);
      rig.vmc.setReplyDelay(Number.POSITIVE_INFINITY); // the adapter goes quiet: its answers come by hand
      const closing = rig.mechanism.closeSession();
      await settle(500);
      let opened = false;
      const opening = rig.mechanism.openSession(500).then(() => {
        opened = true;
      });
      if (stopAnswer) rig.vmc.inject(stopAnswer);
      await settle(600); // without an answer, the C,STOP's wait ended at 1 000 ms
      await closing;
      rig.vmc.inject("c,STATUS,IDLE,5.00\n");
      await settle(1);
      expect(opened).toBe(true);
      await opening;
      rig.vmc.setReplyDelay(0);
      await Promise.all([rig.mechanism.closeSession(), settle(1)]);
    }
    await rig.mechanism.stop();
  });
});
