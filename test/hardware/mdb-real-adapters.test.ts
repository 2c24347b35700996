import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { mdbRig, timeline } from "./rigs.ts";

/**
 * The MDB driver against what real Qibixx adapters print (issue 19, docs/mdb-adapters.md), replayed by the faithful
 * VMC simulator over an in-memory serial port with fake timers. The same sequences run over the real serialport
 * binding (test/hardware/pty.test.ts) and over @serialport/binding-mock (test/hardware/mdb-mock-binding.test.ts).
 */

async function settle(ms = 0) {
  await vi.advanceTimersByTimeAsync(ms);
}

async function startedRig(options: Parameters<typeof mdbRig>[0] = {}) {
  const rig = mdbRig(options);
  rig.mechanism.start().catch(() => {});
  await settle(100);
  expect(rig.mechanism.isUp()).toBe(true);
  return rig;
}

describe("MDB driver, setup as a conversation (issue 19 items 2, 3)", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("fresh power-up answers C,0 'cashless is off': setup goes on, each command waits for its own answer, no loop", async () => {
    const rig = mdbRig({ vmc: { replyDelayMs: 50 } });
    const sent = timeline(rig.vmc);
    rig.mechanism.start().catch(() => {});
    await settle(2_000);
    expect(rig.vmc.errors[0]).toBe("cashless is off");
    expect(rig.mechanism.isUp()).toBe(true);
    expect(sent.map((entry) => entry.line).slice(0, 6)).toEqual([
      "C,0",
      "C,SETCONF,mdb-address=0x10",
      "C,SETCONF,mdb-currency-code=0x1978",
      "C,SETCONF,mdb-scale-factor=1",
      "C,SETCONF,mdb-decimal-places=2",
      expect.stringMatching(/^C,SETCONF,/),
    ]);
    // Conversation: nothing is sent before the previous command's answer (50 ms later) came.
    const setup = sent.filter((entry) => entry.line.startsWith("C,"));
    for (let index = 1; index < setup.length; index++) {
      expect(setup[index]?.at ?? 0).toBeGreaterThanOrEqual((setup[index - 1]?.at ?? 0) + 50);
    }
    await settle(10_000);
    expect(sent.filter((entry) => entry.line === "C,0")).toHaveLength(1);
    expect(rig.seen.links).toEqual(["up"]);
    await rig.mechanism.stop();
  });

  it("older firmware: OFFLINE/ONLINE are answers, mdb-addr is found, a VMC that enables 3 s later is waited for", async () => {
    const rig = mdbRig({ vmc: { firmware: "legacy", vmcEnableDelayMs: 3_000 } });
    rig.mechanism.start().catch(() => {});
    // Set up (ONLINE answered C,1), but this firmware prints no reader state until the VMC enables the reader.
    await settle(1_000);
    expect(rig.vmc.received).toContain("C,1");
    expect(rig.mechanism.isUp()).toBe(false);
    expect(rig.seen.links).toEqual([]);
    await settle(2_100);
    expect(rig.mechanism.isUp()).toBe(true);
    expect(rig.vmc.config.get("mdb-addr")).toBe("0x10");
    expect(rig.vmc.config.get("mdb-currency-code")).toBe("0x1978");
    await settle(10_000);
    // Setup ran once: the reader was never taken off the bus again.
    expect(rig.vmc.received.filter((line) => line === "C,0")).toHaveLength(1);
    expect(rig.seen.links).toEqual(["up"]);
    // Sessions work as with current firmware.
    await Promise.all([rig.mechanism.openSession(500), settle(1)]);
    expect(rig.vmc.state).toBe("IDLE");
    await rig.mechanism.stop();
  });

  it("older firmware is recognised by its C,0 answer: mdb-addr is sent first, mdb-address never", async () => {
    const rig = await startedRig({ vmc: { firmware: "legacy" } });
    expect(rig.vmc.received.filter((line) => /^C,SETCONF,mdb-addr(ess)?=/.test(line))).toEqual([
      "C,SETCONF,mdb-addr=0x10",
    ]);
    await rig.mechanism.stop();
  });

  it("a refused address key is tried in its other spelling, and the one that worked is sent first next time", async () => {
    const rig = await startedRig({
      vmc: { acceptedKeys: ["mdb-addr", "mdb-currency-code", "mdb-scale-factor", "mdb-decimal-places"] },
    });
    rig.port.unplug();
    await settle(10);
    rig.port.replug();
    await settle(2_000);
    expect(rig.mechanism.isUp()).toBe(true);
    const addressLines = rig.vmc.received.filter((line) => /^C,SETCONF,mdb-addr(ess)?=/.test(line));
    expect(addressLines).toEqual(["C,SETCONF,mdb-address=0x10", "C,SETCONF,mdb-addr=0x10", "C,SETCONF,mdb-addr=0x10"]);
    // The optional settings this firmware does not know were skipped, not fatal.
    expect(rig.vmc.errors.filter((text) => text === "SETCONF -1").length).toBeGreaterThanOrEqual(5);
    await rig.mechanism.stop();
  });

  it("sets always-idle, the idle and vend timeouts and restore-funds explicitly at every setup", async () => {
    const rig = await startedRig({ settings: { approvalTimeoutMs: 3_000 } });
    expect(Object.fromEntries(rig.vmc.config)).toEqual({
      "mdb-address": "0x10",
      "mdb-currency-code": "0x1978",
      "mdb-scale-factor": "1",
      "mdb-decimal-places": "2",
      "mdb-always-idle": "0",
      "mdb-timeout-idle": "60",
      "mdb-timeout-vend": "5",
      "mdb-restore-funds": "1",
    });
    await rig.mechanism.stop();
  });

  it("an adapter that never answers: bounded retries with growing pauses, never a burst of C,0", async () => {
    const rig = mdbRig({ vmc: { replyDelayMs: Number.POSITIVE_INFINITY } });
    const sent = timeline(rig.vmc);
    const started = rig.mechanism.start();
    // Stopped before it ever came up: start() says so (and the rejection is handled, not left to the process).
    const outcome = expect(started).rejects.toThrow(/stopped before it came up/);
    await settle(6_000);
    const disables = sent.filter((entry) => entry.line === "C,0");
    expect(disables.length).toBeGreaterThan(1);
    expect(disables.length).toBeLessThanOrEqual(5);
    for (let index = 1; index < disables.length; index++) {
      expect((disables[index]?.at ?? 0) - (disables[index - 1]?.at ?? 0)).toBeGreaterThanOrEqual(1_000);
    }
    expect(rig.mechanism.isUp()).toBe(false);
    await rig.mechanism.stop();
    await outcome;
  });
});

describe("MDB driver, deny and refused approvals (issue 19 item 4)", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  async function inSession(options: Parameters<typeof mdbRig>[0] = {}) {
    const rig = await startedRig(options);
    await Promise.all([rig.mechanism.openSession(500), settle(1)]);
    expect(rig.vmc.state).toBe("IDLE");
    const denied = vi.fn();
    rig.vmc.on("denied", denied);
    return { ...rig, denied };
  }

  it("deny() of an active vend request sends C,VEND,-1: the VMC has its answer, no STOP -3", async () => {
    const { vmc, mechanism, denied } = await inSession();
    vmc.customerSelects(11, "1.50");
    await settle(1);
    await mechanism.deny("A1", "over budget");
    await settle(1);
    expect(denied).toHaveBeenCalledTimes(1);
    expect(vmc.received).toContain("C,VEND,-1");
    expect(vmc.received).not.toContain("C,STOP");
    expect(vmc.errors).not.toContain("STOP -3");
    expect(vmc.state).toBe("IDLE");
    await mechanism.stop();
  });

  it("the approval timeout, an unknown item and a request outside a session are all denied with C,VEND,-1", async () => {
    const { vmc, mechanism, denied, seen } = await inSession({ settings: { approvalTimeoutMs: 2_000 } });
    vmc.customerSelects(11, "1.50");
    await settle(2_001);
    expect(denied).toHaveBeenCalledTimes(1);
    vmc.customerSelects(99, "1.00");
    await settle(1);
    expect(denied).toHaveBeenCalledTimes(2);
    expect(seen.selections.map((request) => request.selection)).toEqual(["A1"]);
    expect(vmc.received.filter((line) => line === "C,VEND,-1")).toHaveLength(2);
    expect(vmc.errors).not.toContain("STOP -3");
    await mechanism.stop();
  });

  it("closeSession with a vend request open: C,VEND,-1 first, then C,STOP ends the session", async () => {
    const { vmc, mechanism, denied } = await inSession();
    vmc.customerSelects(11, "1.50");
    await settle(1);
    await Promise.all([mechanism.closeSession(), settle(10)]);
    expect(denied).toHaveBeenCalledTimes(1);
    expect(vmc.received.slice(-2)).toEqual(["C,VEND,-1", "C,STOP"]);
    expect(vmc.state).toBe("ENABLED");
    expect(vmc.errors).not.toContain("STOP -3");
    await mechanism.stop();
  });

  it('c,ERR,"VEND -3" (the adapter refused our approval: the request had expired) ends the vend not-delivered at once', async () => {
    const { vmc, mechanism } = await inSession({ settings: { vendResultTimeoutMs: 60_000 } });
    vmc.customerSelects(11, "1.50");
    await settle(1);
    vmc.vendRequestExpires();
    const outcome = mechanism.vend("A1", 150);
    await settle(10);
    expect(vmc.errors).toContain("VEND -3");
    await expect(outcome).resolves.toMatchObject({
      outcome: "not-delivered",
      detail: expect.stringMatching(/VEND -3/),
    });
    expect(vmc.approvals).toEqual([]);
    await mechanism.stop();
  });

  it("c,ERR,VEND 5 (the reader was reset during the vend) is unknown, never delivered, never a known failure", async () => {
    const { vmc, mechanism } = await inSession({ vmc: { vendDurationMs: 100 } });
    vmc.nextResults.push("got-reset");
    vmc.customerSelects(11, "1.50");
    await settle(1);
    const outcome = mechanism.vend("A1", 150);
    await settle(200);
    await expect(outcome).resolves.toMatchObject({ outcome: "unknown" });
    await mechanism.stop();
  });
});

describe("MDB driver, adapter reboot with the serial port open (issue 19 item 1)", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const silence = { pollSilenceMs: 2_000 };

  it("the r,ACK stream going silent shows the reboot: the reader goes down and is set up again on the open port", async () => {
    const rig = await startedRig({ vmc: { pollAckIntervalMs: 200 }, settings: silence });
    await settle(1_000);
    expect(rig.vmc.setupCount).toBe(1);
    rig.vmc.reboot();
    await settle(3_000);
    expect(rig.vmc.setupCount).toBe(2);
    expect(rig.port.openCount).toBe(1);
    expect(rig.seen.links).toEqual(["up", "down", "up"]);
    expect(rig.mechanism.isUp()).toBe(true);
    await Promise.all([rig.mechanism.openSession(500), settle(1)]);
    expect(rig.vmc.state).toBe("IDLE");
    await rig.mechanism.stop();
  });

  it("a reboot mid-vend: the vend is unknown (never delivered), the session closed, the adapter set up again", async () => {
    const rig = await startedRig({
      vmc: { pollAckIntervalMs: 200 },
      settings: { ...silence, vendResultTimeoutMs: 60_000 },
    });
    await Promise.all([rig.mechanism.openSession(500), settle(1)]);
    rig.vmc.nextResults.push("no-reply");
    rig.vmc.customerSelects(11, "1.50");
    await settle(1);
    const outcome = rig.mechanism.vend("A1", 150);
    await settle(1);
    rig.vmc.reboot();
    await settle(3_000);
    await expect(outcome).resolves.toMatchObject({ outcome: "unknown", evidence: "restart" });
    expect(rig.seen.closed).toHaveLength(1);
    expect(rig.vmc.setupCount).toBe(2);
    expect(rig.mechanism.isUp()).toBe(true);
    await rig.mechanism.stop();
  });

  it("an adapter that prints no r,ACK stream: 'cashless is off' to START shows the reboot, the next session works", async () => {
    const rig = await startedRig({ vmc: { pollAckIntervalMs: 0 }, settings: silence });
    rig.vmc.reboot();
    await settle(10_000);
    expect(rig.vmc.setupCount).toBe(1); // nothing to notice yet
    const first = rig.mechanism.openSession(500);
    const refused = expect(first).rejects.toThrow(/off/);
    await settle(10);
    await refused;
    await settle(1_000);
    expect(rig.vmc.setupCount).toBe(2);
    expect(rig.mechanism.isUp()).toBe(true);
    await Promise.all([rig.mechanism.openSession(500), settle(1)]);
    expect(rig.vmc.state).toBe("IDLE");
    await rig.mechanism.stop();
  });

  it("a START without any answer: the reader is taken down and set up again once the adapter answers", async () => {
    const rig = await startedRig({ vmc: { pollAckIntervalMs: 0 } });
    rig.vmc.setReplyDelay(Number.POSITIVE_INFINITY);
    const first = rig.mechanism.openSession(500);
    const failed = expect(first).rejects.toThrow(/no answer/);
    await settle(1_001);
    await failed;
    expect(rig.mechanism.isUp()).toBe(false);
    rig.vmc.setReplyDelay(0);
    await settle(10_000);
    expect(rig.mechanism.isUp()).toBe(true);
    expect(rig.vmc.received.filter((line) => line === "C,0").length).toBeGreaterThan(1);
    await rig.mechanism.stop();
  });

  it("older firmware: an unprompted c,STATUS,OFFLINE means the slave is off: set up again", async () => {
    const rig = await startedRig({ vmc: { firmware: "legacy", pollAckIntervalMs: 0 } });
    rig.vmc.inject("c,STATUS,OFFLINE\n");
    await settle(1_000);
    expect(rig.vmc.received.filter((line) => line === "C,0")).toHaveLength(2);
    expect(rig.mechanism.isUp()).toBe(true);
    await rig.mechanism.stop();
  });

  it("no loop: a VMC switched off (r,ACK stops for good) costs one setup again, not one every few seconds", async () => {
    const rig = await startedRig({ vmc: { pollAckIntervalMs: 200 }, settings: silence });
    await settle(1_000);
    rig.vmc.vmcPowerOff();
    await settle(60_000);
    expect(rig.vmc.received.filter((line) => line === "C,0")).toHaveLength(2);
    expect(rig.mechanism.isUp()).toBe(false);
    await rig.mechanism.stop();
  });
});

describe("MDB driver, funds within what the MDB level carries (issue 19 item 5)", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("levels 1 and 2 carry 16-bit money: a budget above 655.35 EUR is offered as 655.35, never more", async () => {
    for (const level of [1, 2] as const) {
      const rig = await startedRig({ settings: { level } });
      await Promise.all([rig.mechanism.openSession(100_000), settle(1)]);
      expect(rig.vmc.funds).toBe("655.35");
      await rig.mechanism.stop();
    }
  });

  it("level 3 with 32-bit money offers the whole budget; level 3 without it stays 16-bit", async () => {
    const wide = await startedRig({ settings: { level: 3, thirtyTwoBitMoney: true } });
    await Promise.all([wide.mechanism.openSession(100_000), settle(1)]);
    expect(wide.vmc.funds).toBe("1000.00");
    await wide.mechanism.stop();
    const narrow = await startedRig({ settings: { level: 3 } });
    await Promise.all([narrow.mechanism.openSession(100_000), settle(1)]);
    expect(narrow.vmc.funds).toBe("655.35");
    await narrow.mechanism.stop();
  });
});

describe("MDB driver, the second cashless address (issue 19 'Beyond')", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("address 0x60 (cashless #2, beside an existing card reader) is set with whichever key the firmware takes", async () => {
    const current = await startedRig({ settings: { address: 0x60 } });
    expect(current.vmc.config.get("mdb-address")).toBe("0x60");
    await current.mechanism.stop();
    const legacy = await startedRig({ vmc: { firmware: "legacy" }, settings: { address: 0x60 } });
    expect(legacy.vmc.config.get("mdb-addr")).toBe("0x60");
    await legacy.mechanism.stop();
  });
});

describe("MDB driver, selection first / always idle at the driver (issue 19 'Beyond')", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const alwaysIdle = { alwaysIdle: true, vendTimeoutS: 30, approvalTimeoutMs: 3_000, vendResultTimeoutMs: 60_000 };

  it("a VEND REQUEST with no session is offered as a session-less selection and kept open within the vend timeout", async () => {
    const rig = await startedRig({ settings: alwaysIdle });
    expect(rig.vmc.config.get("mdb-always-idle")).toBe("1");
    const askedAt = Date.now();
    expect(rig.vmc.customerSelects(12, "2.00")).toBe(true);
    await settle(1);
    expect(rig.seen.selections).toEqual([
      // Held up to a second before the adapter's 30 s vend timeout: the agent shows that countdown.
      { selection: "A2", priceMinor: 200, mdbItem: 12, requestId: 1, sessionless: true, answerBy: askedAt + 29_000 },
    ]);
    // The customer pays by QR meanwhile: well past approvalTimeoutMs, inside the adapter's vend timeout.
    await settle(20_000);
    expect(rig.vmc.received).not.toContain("C,VEND,-1");
    const outcome = rig.mechanism.vend("A2", 200, 1);
    await settle(1);
    await expect(outcome).resolves.toEqual({ outcome: "delivered", evidence: "vend-success" });
    expect(rig.vmc.approvals).toEqual(["2.00"]);
    expect(rig.vmc.state).toBe("ENABLED");
    await rig.mechanism.stop();
  });

  it("a VMC that gives up before the unlock arrives: the late approval is refused (VEND -3), not-delivered, never billed", async () => {
    const rig = await startedRig({ settings: alwaysIdle });
    rig.vmc.customerSelects(12, "2.00");
    await settle(10_000);
    rig.vmc.vendRequestExpires();
    const outcome = rig.mechanism.vend("A2", 200, 1);
    await settle(10);
    await expect(outcome).resolves.toMatchObject({ outcome: "not-delivered" });
    expect(rig.vmc.approvals).toEqual([]);
    await rig.mechanism.stop();
  });

  it("no decision within the vend timeout: the driver denies by itself before the adapter's own timeout", async () => {
    const rig = await startedRig({ settings: alwaysIdle });
    const denied = vi.fn();
    rig.vmc.on("denied", denied);
    rig.vmc.customerSelects(12, "2.00");
    await settle(28_000);
    expect(denied).not.toHaveBeenCalled();
    expect(rig.seen.withdrawn).toEqual([]);
    await settle(1_001);
    expect(denied).toHaveBeenCalledTimes(1);
    // The agent hears that the selection it holds for a payment is gone (its screen goes back to the QR).
    expect(rig.seen.withdrawn).toEqual([{ selection: "A2", requestId: 1, reason: "no approval in time" }]);
    expect(await rig.mechanism.vend("A2", 200, 1)).toMatchObject({ outcome: "not-delivered" });
    expect(rig.vmc.approvals).toEqual([]);
    await rig.mechanism.stop();
  });

  it("the customer cancels at the VMC while the selection is held: the agent hears it withdrawn", async () => {
    const rig = await startedRig({ settings: alwaysIdle });
    rig.vmc.customerSelects(12, "2.00");
    await settle(5_000);
    rig.vmc.customerCancels();
    await settle(10);
    expect(rig.seen.withdrawn).toEqual([{ selection: "A2", requestId: 1, reason: "the VMC ended the session" }]);
    expect(await rig.mechanism.vend("A2", 200, 1)).toMatchObject({ outcome: "not-delivered" });
    expect(rig.vmc.approvals).toEqual([]);
    await rig.mechanism.stop();
  });

  it("a session opened for the held request offers no new credit (no C,START): C,VEND answers the VMC's request", async () => {
    const rig = await startedRig({ settings: alwaysIdle });
    rig.vmc.customerSelects(12, "2.00");
    await settle(15_000);
    await rig.mechanism.openSession(200, 1);
    expect(rig.vmc.received.filter((line) => line.startsWith("C,START"))).toEqual([]);
    const outcome = rig.mechanism.vend("A2", 200, 1);
    await settle(1);
    await expect(outcome).resolves.toEqual({ outcome: "delivered", evidence: "vend-success" });
    expect(rig.vmc.approvals).toEqual(["2.00"]);
    // The VMC went back to ENABLED after the vend: the session is over at the machine too.
    expect(rig.seen.closed).toEqual(["session complete"]);
    await rig.mechanism.stop();
  });

  it("ERR,VEND 3 while a request is held: the request is withdrawn (the agent releases it)", async () => {
    const rig = await startedRig({ settings: alwaysIdle });
    rig.vmc.customerSelects(12, "2.00");
    await settle(2_000);
    rig.vmc.inject("c,ERR,VEND 3\n");
    await settle(10);
    expect(rig.seen.withdrawn).toEqual([
      { selection: "A2", requestId: 1, reason: "the adapter cancelled the request (VEND 3)" },
    ]);
    await rig.mechanism.stop();
  });

  it("a held request the driver itself gave up on (no ENABLED after): a session for it offers credit (C,START)", async () => {
    // No r,ACK watch: the silent adapter below must not be taken for a rebooted one.
    const rig = await startedRig({ settings: { ...alwaysIdle, pollSilenceMs: 0 } });
    rig.vmc.customerSelects(12, "2.00");
    await settle(1);
    // A firmware that says nothing after our deny: the request stays known to the driver, but no longer open.
    rig.vmc.setReplyDelay(Number.POSITIVE_INFINITY);
    await settle(29_100);
    expect(rig.vmc.received).toContain("C,VEND,-1");
    const opening = rig.mechanism.openSession(200, 1);
    opening.catch(() => undefined);
    await settle(10);
    expect(rig.vmc.received).toContain("C,START,2.00");
    await settle(10_000);
    await rig.mechanism.stop();
  });

  it("stopping with a request held: it is denied (C,VEND,-1) before the port closes", async () => {
    const rig = await startedRig({ settings: alwaysIdle });
    rig.vmc.customerSelects(12, "2.00");
    await settle(5_000);
    await rig.mechanism.stop();
    expect(rig.vmc.received).toContain("C,VEND,-1");
  });

  it("the held request is gone before the session opens: the session offers credit as usual (C,START)", async () => {
    const rig = await startedRig({ settings: alwaysIdle });
    rig.vmc.customerSelects(12, "2.00");
    await settle(1_000);
    rig.vmc.customerCancels();
    await settle(10);
    await rig.mechanism.openSession(200);
    expect(rig.vmc.received).toContain("C,START,2.00");
    expect(rig.vmc.state).toBe("IDLE");
    await rig.mechanism.closeSession();
    await rig.mechanism.stop();
  });
});
