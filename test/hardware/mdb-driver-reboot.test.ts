import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { approvedWithoutResult, settle, startedMdbRig, timeline } from "./rigs.ts";

/**
 * The MDB driver when the adapter loses its setup behind the open port (a reboot), or the link goes away: what ends,
 * what the agent hears, and that the setup runs again exactly once (issue 16: mutation score of
 * hardware/mdb/mdb-cashless-mechanism.ts). Simulated VMC, fake clock.
 */

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

const disables = (rig: { vmc: { received: string[] } }) => rig.vmc.received.filter((line) => line === "C,0");
const silence = "no r,ACK for 1000 ms: the VMC no longer polls the reader";
const watched = { vmc: { pollAckIntervalMs: 200 }, settings: { pollSilenceMs: 1_000, vendResultTimeoutMs: 60_000 } };

describe("MDB driver: the r,ACK stream shows a reboot", () => {
  it("a reboot with a request waiting: withdrawn, the session closed, down and set up again; the request is gone", async () => {
    const rig = await startedMdbRig(watched);
    await Promise.all([rig.mechanism.openSession(1_000), settle(1)]);
    rig.vmc.customerSelects(11, "1.50");
    await settle(1);
    rig.vmc.reboot();
    await settle(1_500);
    expect(rig.seen.withdrawn).toEqual([{ selection: "A1", requestId: 1, reason: silence }]);
    expect(rig.seen.closed).toEqual(["the reader went off the bus"]);
    expect(rig.seen.links).toEqual(["up", "down", "up"]);
    expect(disables(rig)).toHaveLength(2);
    expect(await rig.mechanism.vend("A1", 150, 1)).toMatchObject({ detail: "no vend request pending for A1" });
    expect(rig.vmc.approvals).toEqual([]);
    await rig.mechanism.stop();
  });

  it("a reboot mid-vend: the vend is unknown with the silence as its reason, never delivered", async () => {
    const rig = await startedMdbRig(watched);
    await Promise.all([rig.mechanism.openSession(1_000), settle(1)]);
    const { outcome } = await approvedWithoutResult(rig);
    rig.vmc.reboot();
    await settle(1_500);
    await expect(outcome).resolves.toEqual({ outcome: "unknown", evidence: "restart", detail: silence });
    await rig.mechanism.stop();
  });

  it("r,ACKs that keep coming keep the reader up; with pollSilenceMs 0 even a reboot is not watched for", async () => {
    const rig = await startedMdbRig(watched);
    await settle(10_000);
    expect(disables(rig)).toHaveLength(1);
    await rig.mechanism.stop();

    const unwatched = await startedMdbRig({ vmc: { pollAckIntervalMs: 200 }, settings: { pollSilenceMs: 0 } });
    await settle(2_000);
    unwatched.vmc.reboot();
    await settle(5_000);
    expect(disables(unwatched)).toHaveLength(1);
    await unwatched.mechanism.stop();
  });

  it("the silence counts from the r,ACKs of the setup itself: an adapter that prints no more is set up again", async () => {
    // The VMC polls only during the setup here (one r,ACK a minute afterwards).
    const rig = await startedMdbRig({ vmc: { pollAckIntervalMs: 60_000 }, settings: { pollSilenceMs: 1_000 } });
    await settle(1_000);
    expect(disables(rig)).toHaveLength(2);
    await rig.mechanism.stop();
  });

  it("setting up again on the open port fails (the adapter stays silent): the port is reopened, then set up", async () => {
    const rig = await startedMdbRig(watched);
    rig.vmc.setReplyDelay(Number.POSITIVE_INFINITY);
    rig.vmc.reboot();
    await settle(1_200); // the silence: the setup runs again, unanswered
    expect(disables(rig)).toHaveLength(2);
    // Down from the moment the slave is known lost, not only once the setup gets its answers.
    expect(rig.seen.links).toEqual(["up", "down"]);
    for (let waited = 0; disables(rig).length < 4 && waited < 5_000; waited += 50) await settle(50);
    expect(rig.port.openCount).toBe(1);
    // The third C,0 went unanswered too: the port is reopened, and the adapter answers the setup on it.
    rig.vmc.setReplyDelay(0);
    await settle(2_000);
    expect(disables(rig)).toHaveLength(5);
    expect(rig.port.openCount).toBe(2);
    expect(rig.mechanism.isUp()).toBe(true);
    await rig.mechanism.stop();
  });

  it("'cashless is off' to a waiting START during the new setup starts no second setup", async () => {
    const rig = await startedMdbRig({ ...watched, settings: { ...watched.settings, replyTimeoutMs: 5_000 } });
    rig.vmc.setReplyDelay(Number.POSITIVE_INFINITY); // the adapter's answers come by hand
    const opening = rig.mechanism.openSession(500);
    const failed = expect(opening).rejects.toThrow(/off/);
    rig.vmc.reboot();
    await settle(1_200); // the silence: the setup runs again; START and C,0 both wait
    expect(disables(rig)).toHaveLength(2);
    rig.vmc.inject('c,ERR,"cashless is off"\n'); // answers C,0 (the slave is off) and START alike
    await settle(10);
    await failed;
    expect(disables(rig)).toHaveLength(2);
    await rig.mechanism.stop();
  });

  it("a line cut off by the reboot does not swallow the first answer of the new setup", async () => {
    const rig = await startedMdbRig({ vmc: { pollAckIntervalMs: 0 } });
    rig.vmc.inject('c,ERR,"cashless is off"\nc,STATUS,VE');
    await settle(2_000);
    expect(disables(rig)).toHaveLength(2);
    expect(rig.mechanism.isUp()).toBe(true);
    await rig.mechanism.stop();
  });
});

describe("MDB driver: what the adapter says by itself", () => {
  it("'cashless is off' and OFFLINE mean the slave is off (set up again); ONLINE and other errors do not", async () => {
    const rig = await startedMdbRig({ vmc: { pollAckIntervalMs: 0 } });
    rig.vmc.inject('c,ERR,"STOP -3"\nc,STATUS,ONLINE\nc,ERR,VEND 3\n');
    await settle(1_000);
    expect(disables(rig)).toHaveLength(1);
    expect(rig.mechanism.isUp()).toBe(true);
    rig.vmc.inject('c,ERR,"cashless is off"\n');
    await settle(1_000);
    expect(disables(rig)).toHaveLength(2);
    expect(rig.mechanism.isUp()).toBe(true);
    rig.vmc.inject("c,STATUS,OFFLINE\n");
    await settle(1_000);
    expect(disables(rig)).toHaveLength(3);
    await rig.mechanism.stop();
  });
});

describe("MDB driver: the link goes away", () => {
  it("unplugged with a request held: withdrawn, and after the replug nothing approves it", async () => {
    const rig = await startedMdbRig({ settings: { alwaysIdle: true, vendTimeoutS: 30 } });
    rig.vmc.customerSelects(12, "2.00");
    await settle(1);
    rig.port.unplug();
    await settle(1);
    expect(rig.seen.withdrawn).toEqual([{ selection: "A2", requestId: 1, reason: "link lost" }]);
    rig.port.replug();
    await settle(1_000);
    expect(rig.mechanism.isUp()).toBe(true);
    expect(await rig.mechanism.vend("A2", 200, 1)).toMatchObject({ outcome: "not-delivered" });
    expect(rig.vmc.received.filter((line) => line.startsWith("C,VEND,2"))).toEqual([]);
    await rig.mechanism.stop();
  });

  it("unplugged while a session start waits for its answer: openSession fails at once", async () => {
    const rig = await startedMdbRig({ vmc: { pollAckIntervalMs: 0 }, settings: { replyTimeoutMs: 5_000 } });
    rig.vmc.setReplyDelay(Number.POSITIVE_INFINITY);
    const opening = rig.mechanism.openSession(500);
    let failure: unknown;
    opening.catch((error: unknown) => {
      failure = error;
    });
    await settle(10);
    rig.port.unplug();
    await settle(10);
    expect(String(failure)).toMatch(/link lost/);
    await rig.mechanism.stop();
  });

  it("unplugged while the setup runs again: that setup stops, and after the replug the adapter is set up once", async () => {
    const rig = await startedMdbRig(watched);
    rig.vmc.setReplyDelay(Number.POSITIVE_INFINITY);
    rig.vmc.reboot();
    await settle(1_200); // the setup runs again, its C,0 unanswered
    expect(disables(rig)).toHaveLength(2);
    rig.port.unplug();
    await settle(100);
    rig.vmc.setReplyDelay(0);
    rig.port.replug();
    await settle(5_000);
    expect(rig.mechanism.isUp()).toBe(true);
    expect(disables(rig)).toHaveLength(3);
    await rig.mechanism.stop();
  });

  it("unplugged in the pause between two attempts of a setup step: the setup stops, no rejection is left unhandled", async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      const rig = await startedMdbRig(watched);
      const sent = timeline(rig.vmc);
      rig.vmc.setReplyDelay(Number.POSITIVE_INFINITY);
      rig.vmc.reboot();
      for (let waited = 0; !sent.some((entry) => entry.line === "C,0") && waited < 3_000; waited += 10)
        await settle(10);
      // The first C,0 of the new setup went out just now: its reply timeout ends at 1 000 ms, the retry is at 1 250.
      await settle(1_100);
      rig.port.unplug();
      await settle(3_000);
      expect(sent.filter((entry) => entry.line === "C,0")).toHaveLength(1);
      expect(unhandled).toEqual([]);
      await rig.mechanism.stop();
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  });
});
