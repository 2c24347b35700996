import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { capturedLogs } from "../helpers/captured-logs.ts";
import { approvedWithoutResult, inSession, mdbRig, settle, startedMdbRig } from "./rigs.ts";

/**
 * Conditions of the MDB driver that the 07:51 mutation run (issue 16) showed untested: which adapter errors end an
 * approved vend, the funds cap of a level-1 reader, and the session state after the VMC or the link ended it.
 * Simulated VMC, fake clock.
 */

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

describe("MDB driver: adapter errors during an approved vend", () => {
  it("only a whole `VEND -<n>` refuses the approval: other errors leave the vend to its VEND SUCCESS", async () => {
    const rig = await inSession();
    const { outcome } = await approvedWithoutResult(rig);
    // An unrelated error, one that only ends in VEND -n, one that only starts with it: none is the adapter refusing
    // our C,VEND, so none may settle the vend as not delivered (and the product then bill nothing).
    rig.vmc.inject('c,ERR,"BUSY"\nc,ERR,"XVEND -3"\nc,ERR,"VEND -3 later"\n');
    await settle(1);
    rig.vmc.inject("c,VEND,SUCCESS\n");
    await settle(1);
    await expect(outcome).resolves.toEqual({ outcome: "delivered", evidence: "vend-success" });
    await rig.mechanism.stop();
  });

  it("a refusal code of two digits (VEND -12) is a refusal too: nothing was vended", async () => {
    const rig = await inSession();
    const { outcome } = await approvedWithoutResult(rig);
    rig.vmc.inject('c,ERR,"VEND -12"\n');
    await settle(1);
    await expect(outcome).resolves.toEqual({
      outcome: "not-delivered",
      evidence: "none",
      detail: "the adapter refused the approval: VEND -12",
    });
    await rig.mechanism.stop();
  });
});

describe("MDB driver: the funds cap of the bus", () => {
  it("a level-1 reader offers at most 16-bit funds, however large the budget", async () => {
    const rig = await startedMdbRig();
    await Promise.all([rig.mechanism.openSession(10_000_000), settle(1)]);
    expect(rig.vmc.received.filter((line) => line.startsWith("C,START"))).toEqual(["C,START,655.35"]);
    await rig.mechanism.stop();
  });
});

describe("MDB driver: the session after the VMC or the link ended it", () => {
  it("a session the VMC ended is over: a later VEND REQUEST is denied, not offered to the agent", async () => {
    const rig = await inSession();
    rig.vmc.customerCancels();
    await settle(1);
    expect(rig.seen.closed).toEqual(["session complete"]);
    rig.vmc.inject("c,STATUS,VEND,1.50,11\n");
    await settle(1);
    expect(rig.seen.selections).toEqual([]);
    expect(rig.vmc.received.filter((line) => line === "C,VEND,-1")).toHaveLength(1);
    await rig.mechanism.stop();
  });

  it("a session closed by DISABLED is told once: the VMC enabling the reader again ends nothing more", async () => {
    const rig = await inSession();
    rig.vmc.inject("c,STATUS,DISABLED\n");
    await settle(1);
    rig.vmc.inject("c,STATUS,ENABLED\n");
    await settle(1);
    expect(rig.seen.closed).toEqual(["reader disabled by the VMC"]);
    await rig.mechanism.stop();
  });

  it("a session closed by a lost link is told once: the reconnect and ENABLED end nothing more", async () => {
    const rig = await inSession();
    rig.port.unplug();
    await settle(1);
    expect(rig.seen.closed).toEqual(["link lost"]);
    rig.port.replug();
    await settle(2_000);
    expect(rig.mechanism.isUp()).toBe(true);
    expect(rig.seen.closed).toEqual(["link lost"]);
    await rig.mechanism.stop();
  });

  it("with no session, a lost link or a slave gone off the bus tells of no session closed by the machine", async () => {
    const rig = await startedMdbRig();
    rig.vmc.inject('c,ERR,"cashless is off"\n');
    await settle(2_000);
    rig.port.unplug();
    await settle(1);
    expect(rig.seen.closed).toEqual([]);
    await rig.mechanism.stop();
  });
});

describe("MDB driver: the answers a session start and end wait for", () => {
  it("a bare IDLE (or any other line) before START's own answer does not fail the session start", async () => {
    const rig = await startedMdbRig();
    rig.vmc.setReplyDelay(50);
    const opened = rig.mechanism.openSession(1_000);
    rig.vmc.inject('c,STATUS,IDLE\nc,STATUS,ONLINE\nc,ERR,"BUSY"\n');
    await settle(100);
    await expect(opened).resolves.toBeUndefined();
    expect(rig.vmc.received.filter((line) => line === "C,0")).toHaveLength(1);
    await rig.mechanism.stop();
  });

  it("a session end waits for ENABLED or the adapter's STOP error, not any line", async () => {
    const rig = await inSession();
    rig.vmc.setReplyDelay(500);
    let ended = false;
    const closed = rig.mechanism.closeSession().then(() => {
      ended = true;
    });
    await settle(1);
    rig.vmc.inject('c,STATUS,ONLINE\nc,ERR,"NOSTOP"\n');
    await settle(10);
    expect(ended).toBe(false);
    await settle(500);
    await closed;
    expect(ended).toBe(true);
    await rig.mechanism.stop();
  });

  it("after the agent closed the session, a VEND REQUEST is denied: no session is open", async () => {
    const rig = await inSession();
    await Promise.all([rig.mechanism.closeSession(), settle(1)]);
    rig.vmc.inject("c,STATUS,VEND,1.50,11\n");
    await settle(1);
    expect(rig.seen.selections).toEqual([]);
    expect(rig.vmc.received.filter((line) => line === "C,VEND,-1")).toHaveLength(1);
    await rig.mechanism.stop();
  });
});

describe("MDB driver: what the link events say", () => {
  it("link down tells why (the VMC set the reader DISABLED, stopped), and the reader is down when it is told", async () => {
    const rig = await startedMdbRig();
    const told: Array<[string, string | undefined, boolean]> = [];
    rig.mechanism.on("link", (state, detail) => told.push([state, detail, rig.mechanism.isUp()]));
    rig.vmc.inject("c,STATUS,DISABLED\n");
    await settle(1);
    rig.vmc.inject("c,STATUS,ENABLED\n");
    await settle(1);
    rig.vmc.inject('c,ERR,"cashless is off"\n');
    await settle(1);
    await rig.mechanism.stop();
    expect(told[0]).toEqual(["down", "the VMC set the reader DISABLED", false]);
    expect(told[1]).toEqual(["up", undefined, true]);
    expect(told[2]).toEqual(["down", "the adapter says cashless is off", false]);
    expect(told.at(-1)).toEqual(["down", "stopped", false]);
  });
});

describe("MDB driver: what is sent and logged around the setup and the end", () => {
  it("display text is not sent while the adapter is still being set up", async () => {
    const rig = mdbRig({ vmc: { replyDelayMs: 50 } });
    rig.mechanism.start().catch(() => {});
    await settle(10);
    await rig.mechanism.showText("HELLO");
    await settle(500);
    expect(rig.mechanism.isUp()).toBe(true);
    expect(rig.vmc.received.filter((line) => line.startsWith("C,DISPLAY"))).toEqual([]);
    await rig.mechanism.stop();
  });

  it("a request the driver denied itself and still holds is dropped with the reason: session closed, driver stopped", async () => {
    const { logger, lines } = capturedLogs("debug");
    const dropped = () =>
      lines.filter((line) => line.msg === "pending vend request dropped").map((line) => line.reason);
    const rig = await inSession({ logger, settings: { approvalTimeoutMs: 2_000 } });
    rig.vmc.customerSelects(11, "1.50");
    await settle(2_001);
    await Promise.all([rig.mechanism.closeSession(), settle(1)]);
    expect(dropped()).toEqual(["session closed by the agent"]);
    await Promise.all([rig.mechanism.openSession(1_000), settle(1)]);
    rig.vmc.customerSelects(11, "1.50");
    await settle(2_001);
    await rig.mechanism.stop();
    expect(dropped()).toEqual(["session closed by the agent", "driver stopped"]);
  });
});

describe("MDB driver: a session opened while the previous one is still being closed", () => {
  it("its end by the VMC is told, even though the close before it ended without an answer", async () => {
    const rig = await inSession();
    rig.vmc.setReplyDelay(60_000);
    const closed = rig.mechanism.closeSession();
    await settle(1);
    // The adapter never answers the C,STOP; the next customer's session starts meanwhile.
    const opened = rig.mechanism.openSession(1_000);
    await settle(1);
    rig.vmc.inject("c,STATUS,IDLE,10.00\n");
    await settle(1);
    await opened;
    await settle(1_000);
    await closed;
    rig.vmc.inject("c,STATUS,ENABLED\n");
    await settle(1);
    expect(rig.seen.closed).toEqual(["session complete"]);
    await rig.mechanism.stop();
  });
});

describe("MDB driver: the reconnect pause", () => {
  it("takes the random source it was given for the backoff's jitter (the rig's: 0.5, first pause 75 ms)", async () => {
    vi.spyOn(Math, "random").mockReturnValue(0);
    const rig = await startedMdbRig();
    const disables = () => rig.vmc.received.filter((line) => line === "C,0").length;
    rig.port.unplug();
    rig.port.replug();
    await settle(70);
    expect(disables()).toBe(1);
    await settle(10);
    expect(disables()).toBe(2);
    await rig.mechanism.stop();
  });
});

describe("MDB driver: an approval that cannot be sent", () => {
  it("is an unknown outcome that says the approval was not sent (the port closed just before)", async () => {
    const rig = await inSession();
    rig.vmc.customerSelects(11, "1.50");
    await settle(1);
    rig.port.unplug(); // the stream is destroyed now; the driver hears of it only on its close event
    const outcome = rig.mechanism.vend("A1", 150, 1);
    await settle(1);
    await expect(outcome).resolves.toEqual({
      outcome: "unknown",
      evidence: "link-lost",
      detail: `approval not sent: Error: serial link ${rig.port.path} is down`,
    });
    expect(rig.vmc.approvals).toEqual([]);
    await rig.mechanism.stop();
  });
});
