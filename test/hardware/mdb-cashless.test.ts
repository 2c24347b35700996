import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { mdbRig } from "./rigs.ts";

/** The MDB driver against the VMC simulator over an in-memory serial port, with fake timers for every timeout. */

async function settle(ms = 0) {
  await vi.advanceTimersByTimeAsync(ms);
}

async function startedRig(options: Parameters<typeof mdbRig>[0] = {}) {
  const rig = mdbRig(options);
  const started = rig.mechanism.start();
  await settle(10);
  await started;
  return rig;
}

describe("MDB cashless driver with the simulated VMC", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("sets the adapter up (C,0, SETCONF from config, C,1) and comes up when the VMC enables the reader", async () => {
    const { vmc, mechanism, seen } = await startedRig({ settings: { address: 0x60, currencyCode: 0x1752 } });
    expect(vmc.received.slice(0, 5)).toEqual([
      "C,0",
      "C,SETCONF,mdb-address=0x60",
      "C,SETCONF,mdb-currency-code=0x1752",
      "C,SETCONF,mdb-scale-factor=1",
      "C,SETCONF,mdb-decimal-places=2",
    ]);
    // The explicit settings of issue 19 follow (test/hardware/mdb-real-adapters.test.ts), then C,1.
    expect(vmc.received.slice(5).find((line) => !line.startsWith("C,SETCONF,"))).toBe("C,1");
    expect(mechanism.isUp()).toBe(true);
    expect(seen.links).toEqual(["up"]);
    await mechanism.stop();
  });

  it("begins a session with the budget as funds, maps the VEND REQUEST to a selection, approves and bills only VEND SUCCESS", async () => {
    const { vmc, mechanism, seen } = await startedRig({ vmc: { vendDurationMs: 500 } });
    await Promise.all([mechanism.openSession(2_000), settle(1)]);
    expect(vmc.received).toContain("C,START,20.00");
    expect(vmc.state).toBe("IDLE");

    vmc.customerSelects(12, "2.00");
    await settle(1);
    expect(seen.selections).toEqual([{ selection: "A2", priceMinor: 200, mdbItem: 12, requestId: 1 }]);

    const outcome = mechanism.vend("A2", 200);
    await settle(1);
    expect(vmc.approvals).toEqual(["2.00"]);
    await settle(500);
    await expect(outcome).resolves.toEqual({ outcome: "delivered", evidence: "vend-success" });
    // Single-vend VMC: it ends the session afterwards.
    expect(seen.closed).toEqual(["session complete"]);
    await mechanism.stop();
  });

  it("keeps an idle link's sign of life fresh with a version heartbeat, so the watchdog does not restart a quiet agent", async () => {
    const { vmc, mechanism } = await startedRig();
    const before = mechanism.lastSignOfLifeAt();
    const versionsBefore = vmc.received.filter((line) => line === "V").length;
    await settle(15_000);
    expect(vmc.received.filter((line) => line === "V").length).toBe(versionsBefore + 1);
    expect(mechanism.lastSignOfLifeAt()).toBeGreaterThanOrEqual((before ?? 0) + 15_000);
    await settle(30_000);
    expect(vmc.received.filter((line) => line === "V").length).toBe(versionsBefore + 3);
    await mechanism.stop();
    await settle(60_000);
    expect(vmc.received.filter((line) => line === "V").length).toBe(versionsBefore + 3);
  });

  it("reports ERR,VEND 3 after approval as not delivered", async () => {
    const { vmc, mechanism } = await startedRig({ vmc: { vendDurationMs: 200 } });
    await Promise.all([mechanism.openSession(500), settle(1)]);
    vmc.nextResults.push("failure");
    vmc.customerSelects(11, "1.50");
    await settle(1);
    const outcome = mechanism.vend("A1", 150);
    await settle(300);
    await expect(outcome).resolves.toEqual({
      outcome: "not-delivered",
      evidence: "vend-failure",
      detail: "ERR,VEND 3",
    });
    await mechanism.stop();
  });

  it("marks a vend unknown when the adapter resets mid-vend, and comes back up", async () => {
    const { vmc, mechanism, seen } = await startedRig({ vmc: { vendDurationMs: 400 } });
    await Promise.all([mechanism.openSession(500), settle(1)]);
    vmc.nextResults.push("reset");
    vmc.customerSelects(11, "1.50");
    await settle(1);
    const outcome = mechanism.vend("A1", 150);
    await settle(300);
    await expect(outcome).resolves.toMatchObject({ outcome: "unknown", evidence: "restart" });
    expect(seen.links).toEqual(["up", "down", "up"]);
    expect(mechanism.isUp()).toBe(true);
    await mechanism.stop();
  });

  it("marks a vend unknown when no result comes within vendResultTimeoutMs", async () => {
    const { vmc, mechanism } = await startedRig({ settings: { vendResultTimeoutMs: 5_000 } });
    await Promise.all([mechanism.openSession(500), settle(1)]);
    vmc.nextResults.push("no-reply");
    vmc.customerSelects(11, "1.50");
    await settle(1);
    let settled = false;
    const outcome = mechanism.vend("A1", 150).finally(() => {
      settled = true;
    });
    await settle(4_900);
    expect(settled).toBe(false);
    await settle(200);
    await expect(outcome).resolves.toMatchObject({ outcome: "unknown", evidence: "none" });
    await mechanism.stop();
  });

  it("denies by itself when the agent does not answer within approvalTimeoutMs, and never approves late", async () => {
    const { vmc, mechanism } = await startedRig({ settings: { approvalTimeoutMs: 2_000 } });
    await Promise.all([mechanism.openSession(500), settle(1)]);
    const denied = vi.fn();
    vmc.on("denied", denied);
    vmc.customerSelects(11, "1.50");
    await settle(1_999);
    expect(denied).not.toHaveBeenCalled();
    await settle(2);
    expect(denied).toHaveBeenCalledTimes(1);
    const late = await mechanism.vend("A1", 150);
    expect(late).toMatchObject({ outcome: "not-delivered", evidence: "none" });
    await settle(10);
    expect(vmc.approvals).toEqual([]);
    expect(vmc.received.filter((line) => line.startsWith("C,VEND") && line !== "C,VEND,-1")).toEqual([]);
    await mechanism.stop();
  });

  it("a late decision for an auto-denied request never approves the VMC's repeated request (other price or same)", async () => {
    const { vmc, mechanism, seen } = await startedRig({ settings: { approvalTimeoutMs: 2_000 } });
    await Promise.all([mechanism.openSession(2_000), settle(1)]);
    vmc.customerSelects(12, "2.00");
    await settle(2_001); // no decision in time: auto-denied, the VMC is back to IDLE
    const old = seen.selections[0];
    expect(old).toMatchObject({ selection: "A2", priceMinor: 200 });
    // The customer presses the same key again; meanwhile the VMC's price for it changed.
    vmc.customerSelects(12, "1.80");
    await settle(1);
    expect(seen.selections[1]).toMatchObject({ selection: "A2", priceMinor: 180 });
    // The agent's late decision for the OLD request (old price) arrives now.
    const late = await mechanism.vend("A2", 200, old?.requestId);
    expect(late).toMatchObject({ outcome: "not-delivered", evidence: "none", detail: expect.any(String) });
    // Even a caller that does not pass the request id is refused on the price: denied, never C,VEND.
    const priced = await mechanism.vend("A2", 200);
    expect(priced).toMatchObject({ outcome: "not-delivered", detail: expect.stringMatching(/price/) });
    await settle(10);
    expect(vmc.approvals).toEqual([]);
    expect(vmc.received.filter((line) => line.startsWith("C,VEND") && line !== "C,VEND,-1")).toEqual([]);
    expect(seen.selections[1]?.requestId).not.toBe(old?.requestId);

    // Same item, same price, asked again after a timeout: the old decision still does not approve the new request.
    vmc.customerSelects(12, "2.00");
    await settle(1);
    const third = seen.selections[2];
    expect(third?.priceMinor).toBe(200);
    expect(await mechanism.vend("A2", 200, seen.selections[1]?.requestId)).toMatchObject({
      outcome: "not-delivered",
    });
    expect(vmc.approvals).toEqual([]);
    // The decision for the request that is pending does approve it.
    const current = mechanism.vend("A2", 200, third?.requestId);
    await settle(1);
    expect(vmc.approvals).toEqual(["2.00"]);
    await settle(2_000);
    await expect(current).resolves.toMatchObject({ outcome: "delivered" });
    await mechanism.stop();
  });

  it("denies with C,VEND,-1 on deny(), and denies unknown items and vend requests outside a session without asking", async () => {
    const { vmc, mechanism, seen } = await startedRig();
    await Promise.all([mechanism.openSession(500), settle(1)]);
    vmc.customerSelects(11, "1.50");
    await settle(1);
    await mechanism.deny("A1", "over budget");
    await settle(1);
    expect(vmc.state).toBe("IDLE");
    vmc.customerSelects(99, "1.00");
    await settle(1);
    expect(seen.selections.map((s) => s.selection)).toEqual(["A1"]);
    expect(vmc.state).toBe("IDLE");
    // An active vend request is denied with C,VEND,-1; C,STOP would be refused (STOP -3) by real adapters (issue 19).
    expect(vmc.received.filter((line) => line === "C,VEND,-1")).toHaveLength(2);
    await mechanism.stop();
  });

  it("ends the session with C,STOP on closeSession and reports a customer cancel as closed by the machine", async () => {
    const { vmc, mechanism, seen } = await startedRig();
    await Promise.all([mechanism.openSession(500), settle(1)]);
    await Promise.all([mechanism.closeSession(), settle(1)]);
    expect(vmc.state).toBe("ENABLED");
    expect(seen.closed).toEqual([]);
    await Promise.all([mechanism.openSession(500), settle(1)]);
    vmc.customerCancels();
    await settle(1);
    expect(seen.closed).toEqual(["session complete"]);
    await mechanism.stop();
  });

  it("a bare IDLE left over from the previous session is not taken as the answer to START (found by the bench)", async () => {
    const { vmc, mechanism } = await startedRig();
    vmc.setReplyDelay(100);
    let opened = false;
    const open = mechanism.openSession(500).then(() => {
      opened = true;
    });
    vmc.inject("c,STATUS,IDLE\n");
    await settle(50);
    expect(opened).toBe(false);
    await settle(60);
    await open;
    expect(opened).toBe(true);
    await mechanism.stop();
  });

  it("refuses to open a session when the adapter rejects START", async () => {
    const { vmc, mechanism } = await startedRig();
    // The VMC disabled us in between (e.g. service mode); ENABLED is what START needs.
    vmc.inject("c,STATUS,DISABLED\n");
    await settle(1);
    await expect(mechanism.openSession(500)).rejects.toThrow(/not enabled/);
    await mechanism.stop();
  });

  it("sends display text, cleaned to 32 printable characters", async () => {
    const { vmc, mechanism } = await startedRig();
    await mechanism.showText?.("Scan the QR code\nwith the SEQR app please!");
    await settle(1);
    expect(vmc.displayTexts).toEqual(["Scan the QR code with the SEQR a"]);
    await mechanism.stop();
  });

  it("unplugged mid-vend: the vend is unknown, and after replug the adapter is set up again", async () => {
    const { vmc, port, mechanism, seen } = await startedRig();
    await Promise.all([mechanism.openSession(500), settle(1)]);
    vmc.nextResults.push("no-reply");
    vmc.customerSelects(11, "1.50");
    await settle(1);
    const outcome = mechanism.vend("A1", 150);
    await settle(1);
    port.unplug();
    await settle(1);
    await expect(outcome).resolves.toMatchObject({ outcome: "unknown", evidence: "link-lost" });
    expect(mechanism.isUp()).toBe(false);
    expect(seen.closed).toEqual(["link lost"]);
    await settle(2_000); // reopen attempts fail while unplugged
    expect(port.openCount).toBe(1);
    port.replug();
    await settle(1_000);
    expect(port.openCount).toBe(2);
    expect(vmc.setupCount).toBe(2);
    expect(vmc.config.get("mdb-address")).toBe("0x10");
    expect(mechanism.isUp()).toBe(true);
    expect(seen.links).toEqual(["up", "down", "up"]);
    await mechanism.stop();
  });

  it("retries setup with backoff when the adapter does not answer, and comes up once it does", async () => {
    const rig = mdbRig({ vmc: { replyDelayMs: Number.POSITIVE_INFINITY } });
    const started = rig.mechanism.start();
    await settle(1_500);
    expect(rig.mechanism.isUp()).toBe(false);
    rig.vmc.setReplyDelay(0);
    await settle(2_000);
    await started;
    expect(rig.mechanism.isUp()).toBe(true);
    // Retried: the unanswered C,0 went out again (issue 19: bounded per-step retries before the port is reopened).
    expect(rig.vmc.received.filter((line) => line === "C,0").length).toBeGreaterThan(1);
    await rig.mechanism.stop();
  });

  it("a slow vend result within the timeout still counts", async () => {
    const { vmc, mechanism } = await startedRig({ settings: { vendResultTimeoutMs: 8_000 } });
    await Promise.all([mechanism.openSession(500), settle(1)]);
    vmc.nextResults.push({ successAfterMs: 7_000 });
    vmc.customerSelects(11, "1.50");
    await settle(1);
    const outcome = mechanism.vend("A1", 150);
    await settle(7_001);
    await expect(outcome).resolves.toEqual({ outcome: "delivered", evidence: "vend-success" });
    await mechanism.stop();
  });

  it("garbage lines on the link: no crash, counted, the protocol goes on, nothing billed from garbage", async () => {
    const { vmc, mechanism } = await startedRig({ vmc: { vendDurationMs: 100 } });
    await Promise.all([mechanism.openSession(500), settle(1)]);
    // Garbage before any vend: a stray success must not be taken for anything.
    vmc.inject(
      "c,VEND,SUCCESS,EXTRA\nc,VEND,SUCCES\n\u0000\u00ff\u00fe garbage\r\nC,VEND,SUCCESS\nc,STATUS,VEND,abc,11\n",
    );
    vmc.inject(Buffer.from([0xff, 0x00, 0x13, 0x0a, 0xc3, 0x28, 0x0a]));
    vmc.inject(`${"x".repeat(1_000)}\n`);
    await settle(1);
    vmc.nextResults.push("no-reply");
    vmc.customerSelects(11, "1.50");
    await settle(1);
    const outcome = mechanism.vend("A1", 150);
    await settle(1);
    vmc.inject("c,VEND,SUCCESS!\nc, VEND,SUCCESS\nc,vend,success\nc,VEND,SUCCESS\u0000\n");
    await settle(11_000);
    await expect(outcome).resolves.toMatchObject({ outcome: "unknown" });
    expect((mechanism as unknown as { garbageLineCount: number }).garbageLineCount).toBeGreaterThanOrEqual(9);
    expect(mechanism.isUp()).toBe(true);
    await mechanism.stop();
  });
});
