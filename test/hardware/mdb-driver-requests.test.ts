import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { approvedWithoutResult, inSession, settle, startedMdbRig } from "./rigs.ts";

/**
 * The MDB driver's money decisions, one condition at a time (issue 16: mutation score of
 * hardware/mdb/mdb-cashless-mechanism.ts): which funds a session offers, which decision may approve which VEND
 * REQUEST, and which requests are denied or forgotten. Simulated VMC, fake clock.
 */

const denials = (rig: { vmc: { received: string[] } }) => rig.vmc.received.filter((line) => line === "C,VEND,-1");
const starts = (rig: { vmc: { received: string[] } }) => rig.vmc.received.filter((line) => line.startsWith("C,START"));
const disables = (rig: { vmc: { received: string[] } }) => rig.vmc.received.filter((line) => line === "C,0");

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** The VMC's request is approved now and its VEND SUCCESS comes at once. */
async function expectDelivered(
  rig: Awaited<ReturnType<typeof inSession>>,
  selection: string,
  priceMinor: number,
  requestId: number,
) {
  const outcome = rig.mechanism.vend(selection, priceMinor, requestId);
  await settle(1);
  await expect(outcome).resolves.toEqual({ outcome: "delivered", evidence: "vend-success" });
}

/** In a session, A1 at 1.50 asked and not decided within the 2 s approval timeout: the driver denied it itself. */
async function autoDenied() {
  const rig = await inSession({ settings: { approvalTimeoutMs: 2_000 } });
  rig.vmc.customerSelects(11, "1.50");
  await settle(2_001);
  return rig;
}

describe("MDB driver: the funds a session offers", () => {
  it("a budget of nothing, or a negative one, is refused before any C,START and costs no new setup", async () => {
    const rig = await startedMdbRig();
    await expect(rig.mechanism.openSession(0)).rejects.toThrow(
      new RangeError("budget 0 cannot be offered as MDB funds"),
    );
    await expect(rig.mechanism.openSession(-100)).rejects.toThrow(RangeError);
    await settle(2_000);
    expect(starts(rig)).toEqual([]);
    expect(disables(rig)).toHaveLength(1);
    // No request is held: a held-request id offers credit as usual.
    await Promise.all([rig.mechanism.openSession(500, 5), settle(1)]);
    expect(starts(rig)).toEqual(["C,START,5.00"]);
    await rig.mechanism.stop();
  });

  it("a session for another request than the held one offers credit; START -3 is a refusal, not a rebooted adapter", async () => {
    const rig = await startedMdbRig({ settings: { alwaysIdle: true, vendTimeoutS: 30 } });
    rig.vmc.customerSelects(12, "2.00");
    await settle(1);
    expect(rig.seen.selections).toHaveLength(1);
    // The VMC is inside its VEND REQUEST: a START now is refused by the adapter.
    await expect(Promise.all([rig.mechanism.openSession(200, 7), settle(1)])).rejects.toThrow(
      "the adapter refused the session: START -3",
    );
    expect(starts(rig)).toEqual(["C,START,2.00"]);
    await settle(2_000);
    expect(disables(rig)).toHaveLength(1);
    expect(rig.mechanism.isUp()).toBe(true);
    // The held request is untouched: its own decision approves it.
    await expectDelivered(rig, "A2", 200, 1);
    await rig.mechanism.stop();
  });
});

describe("MDB driver: which decision approves which request", () => {
  it("vend() for another selection than the pending one approves nothing; the pending one still can be", async () => {
    const rig = await inSession();
    rig.vmc.customerSelects(11, "1.50");
    await settle(1);
    expect(await rig.mechanism.vend("A2", 200)).toEqual({
      outcome: "not-delivered",
      evidence: "none",
      detail: "no vend request pending for A2",
    });
    expect(rig.vmc.approvals).toEqual([]);
    await expectDelivered(rig, "A1", 150, 1);
    await rig.mechanism.stop();
  });

  it("a late decision after the auto-deny is told so once; the VMC asking the same again is a new request", async () => {
    const rig = await autoDenied();
    expect(rig.seen.withdrawn).toEqual([{ selection: "A1", requestId: 1, reason: "no approval in time" }]);
    expect(await rig.mechanism.vend("A1", 150, 1)).toEqual({
      outcome: "not-delivered",
      evidence: "none",
      detail: "approval came after 2000 ms; the request was already denied",
    });
    expect(await rig.mechanism.vend("A1", 150, 1)).toMatchObject({ detail: "no vend request pending for A1" });
    // deny() of the expired request denies nothing again.
    await rig.mechanism.deny("A1", "too late");
    rig.vmc.customerSelects(11, "1.50");
    await settle(1);
    expect(rig.seen.selections.map((request) => request.requestId)).toEqual([1, 2]);
    expect(denials(rig)).toHaveLength(1);
    await rig.mechanism.stop();
  });

  it("the VMC asking the same again after the auto-deny is a new request, and its own decision approves it", async () => {
    const rig = await autoDenied();
    rig.vmc.customerSelects(11, "1.50");
    await settle(1);
    expect(rig.seen.selections.map((request) => request.requestId)).toEqual([1, 2]);
    await expectDelivered(rig, "A1", 150, 2);
    await rig.mechanism.stop();
  });

  it("an auto-denied request still known to the driver is denied only once, and withdrawn only once", async () => {
    const rig = await autoDenied();
    expect(denials(rig)).toHaveLength(1);
    await rig.mechanism.deny("A1", "over budget");
    await Promise.all([rig.mechanism.closeSession(), settle(10)]);
    expect(denials(rig)).toHaveLength(1);
    expect(rig.vmc.received.at(-1)).toBe("C,STOP");
    expect(rig.vmc.state).toBe("ENABLED");
    expect(rig.seen.withdrawn).toHaveLength(1);
    expect(await rig.mechanism.vend("A1", 150)).toMatchObject({ detail: "no vend request pending for A1" });
    await rig.mechanism.stop();
  });

  it("a price MDB cannot carry exactly is denied, never rounded into an approval", async () => {
    // Scale factor 5: the bus carries multiples of 0.05.
    const rig = await inSession({ settings: { scaleFactor: 5 } });
    rig.vmc.customerSelects(11, "1.50");
    await settle(1);
    expect(rig.seen.selections[0]).toMatchObject({ selection: "A1", priceMinor: 150 });
    expect(await rig.mechanism.vend("A1", 151, 1)).toEqual({
      outcome: "not-delivered",
      evidence: "none",
      detail: "price 151 is not representable on MDB",
    });
    expect(denials(rig)).toHaveLength(1);
    expect(rig.vmc.approvals).toEqual([]);
    await rig.mechanism.stop();
  });

  it("deny() denies only the request it names: another selection or another request id denies nothing", async () => {
    const rig = await inSession();
    rig.vmc.customerSelects(11, "1.50");
    await settle(1);
    await rig.mechanism.deny("A2", "not this one");
    await rig.mechanism.deny("A1", "an older request", 7);
    await settle(1);
    expect(denials(rig)).toEqual([]);
    await rig.mechanism.deny("A1", "over budget", 1);
    await settle(1);
    expect(denials(rig)).toHaveLength(1);
    expect(rig.vmc.state).toBe("IDLE");
    expect(await rig.mechanism.vend("A1", 150, 1)).toMatchObject({ detail: "no vend request pending for A1" });
    expect(rig.vmc.approvals).toEqual([]);
    await rig.mechanism.stop();
  });

  it("multi-vend: an approved request is gone, and the first vend's result timer never settles the second vend", async () => {
    const rig = await inSession({ vmc: { multivend: true }, settings: { vendResultTimeoutMs: 10_000 } });
    rig.vmc.customerSelects(11, "1.50");
    await settle(1);
    await expectDelivered(rig, "A1", 150, 1);
    // The same decision again approves nothing: the request it was for is answered.
    expect(await rig.mechanism.vend("A1", 150, 1)).toMatchObject({ detail: "no vend request pending for A1" });
    await settle(5_000);
    rig.vmc.nextResults.push({ successAfterMs: 8_000 });
    rig.vmc.customerSelects(12, "2.00");
    await settle(1);
    const second = rig.mechanism.vend("A2", 200, 2);
    await settle(8_001);
    await expect(second).resolves.toEqual({ outcome: "delivered", evidence: "vend-success" });
    expect(rig.vmc.approvals).toEqual(["1.50", "2.00"]);
    await rig.mechanism.stop();
  });

  it("no result within vendResultTimeoutMs: unknown, and the detail says how long it waited", async () => {
    const rig = await inSession({ settings: { vendResultTimeoutMs: 5_000 } });
    const { outcome } = await approvedWithoutResult(rig);
    await settle(5_000);
    await expect(outcome).resolves.toEqual({
      outcome: "unknown",
      evidence: "none",
      detail: "no vend result within 5000 ms",
    });
    await rig.mechanism.stop();
  });

  it("stopping mid-vend: the vend is unknown, with the stop as its reason", async () => {
    const rig = await inSession();
    const { outcome } = await approvedWithoutResult(rig);
    await rig.mechanism.stop();
    await expect(outcome).resolves.toEqual({
      outcome: "unknown",
      evidence: "link-lost",
      detail: "driver stopped during the vend",
    });
  });
});

describe("MDB driver: ending a session", () => {
  it("closeSession with no session sends nothing", async () => {
    const rig = await startedMdbRig();
    await Promise.all([rig.mechanism.closeSession(), settle(10)]);
    expect(rig.vmc.received.filter((line) => line === "C,STOP")).toEqual([]);
    await rig.mechanism.stop();
  });

  it("C,STOP answered STOP -3 (a vend under way) ends closeSession at once, not after the reply timeout", async () => {
    const rig = await inSession({ settings: { replyTimeoutMs: 5_000 } });
    rig.vmc.nextResults.push("no-reply");
    rig.vmc.customerSelects(11, "1.50");
    await settle(1);
    void rig.mechanism.vend("A1", 150, 1);
    await settle(1);
    let closed = false;
    const closing = rig.mechanism.closeSession().then(() => {
      closed = true;
    });
    await settle(10);
    expect(rig.vmc.errors).toContain("STOP -3");
    expect(closed).toBe(true);
    await closing;
    await rig.mechanism.stop();
  });
});

describe("MDB driver: the VEND REQUESTs the VMC sends", () => {
  it("a repeated request is the same request; another price or another item replaces it (withdrawn, its timer gone)", async () => {
    const rig = await inSession({ settings: { approvalTimeoutMs: 3_000 } });
    rig.vmc.inject("c,STATUS,VEND,1.50,11\n");
    await settle(1);
    rig.vmc.inject("c,STATUS,VEND,1.50,11\n");
    await settle(1_000);
    expect(rig.seen.selections.map((request) => request.requestId)).toEqual([1]);
    rig.vmc.inject("c,STATUS,VEND,1.80,11\n");
    await settle(1_000);
    rig.vmc.customerSelects(12, "1.80");
    await settle(1);
    expect(rig.seen.selections.map((request) => [request.selection, request.priceMinor, request.requestId])).toEqual([
      ["A1", 150, 1],
      ["A1", 180, 2],
      ["A2", 180, 3],
    ]);
    expect(rig.seen.withdrawn).toEqual([
      { selection: "A1", requestId: 1, reason: "replaced by a new vend request" },
      { selection: "A1", requestId: 2, reason: "replaced by a new vend request" },
    ]);
    // 3.5 s after the first request: its approval timer, and the second's, must not deny the VMC's current request.
    await settle(1_500);
    expect(denials(rig)).toEqual([]);
    await expectDelivered(rig, "A2", 180, 3);
    await rig.mechanism.stop();
  });

  it("outside a session (not selection first), or at a price it cannot read, a request is denied and never offered", async () => {
    const rig = await startedMdbRig();
    rig.vmc.inject("c,STATUS,VEND,1.50,11\n");
    await settle(1);
    expect(denials(rig)).toHaveLength(1);
    await Promise.all([rig.mechanism.openSession(1_000), settle(1)]);
    rig.vmc.inject("c,STATUS,VEND,1.505,11\n");
    await settle(1);
    expect(denials(rig)).toHaveLength(2);
    expect(rig.seen.selections).toEqual([]);
    await rig.mechanism.stop();
  });

  it("the reader disabled while a selection is held: the request is withdrawn and cannot be approved after", async () => {
    const rig = await startedMdbRig({ settings: { alwaysIdle: true, vendTimeoutS: 30 } });
    rig.vmc.customerSelects(12, "2.00");
    await settle(1);
    rig.vmc.inject("c,STATUS,DISABLED\n");
    await settle(1);
    expect(rig.seen.withdrawn).toEqual([{ selection: "A2", requestId: 1, reason: "reader DISABLED" }]);
    rig.vmc.inject("c,STATUS,ENABLED\n");
    await settle(1);
    expect(await rig.mechanism.vend("A2", 200, 1)).toMatchObject({ detail: "no vend request pending for A2" });
    expect(rig.vmc.approvals).toEqual([]);
    await rig.mechanism.stop();
  });
});

describe("MDB driver: how a vend without its VEND SUCCESS ends", () => {
  it("a reader reset (VEND 5) is unknown, a refused approval (VEND -3) not delivered, each with its evidence", async () => {
    const rig = await inSession({ vmc: { vendDurationMs: 100, multivend: true } });
    rig.vmc.nextResults.push("got-reset");
    rig.vmc.customerSelects(11, "1.50");
    await settle(1);
    const reset = rig.mechanism.vend("A1", 150, 1);
    await settle(200);
    await expect(reset).resolves.toEqual({
      outcome: "unknown",
      evidence: "restart",
      detail: "ERR,VEND 5: reader reset mid-vend",
    });

    rig.vmc.customerSelects(12, "2.00");
    await settle(1);
    rig.vmc.vendRequestExpires(); // the VMC gave up before our approval came
    const refused = rig.mechanism.vend("A2", 200, 2);
    await settle(10);
    await expect(refused).resolves.toEqual({
      outcome: "not-delivered",
      evidence: "none",
      detail: "the adapter refused the approval: VEND -3",
    });
    await rig.mechanism.stop();
  });

  it.each([
    ["the VMC back to ENABLED", "c,STATUS,ENABLED\n", "session ended without a vend result"],
    ["the reader DISABLED", "c,STATUS,DISABLED\n", "reader went DISABLED mid-vend"],
    ["a new VEND REQUEST", "c,STATUS,VEND,2.00,12\n", "a new vend request came before the result"],
  ])(
    "%s before the result: the vend is unknown at once (restart), named so, not left to the result timeout",
    async (_, line, detail) => {
      const rig = await inSession();
      const { outcome } = await approvedWithoutResult(rig);
      rig.vmc.inject(line);
      await settle(1);
      await expect(outcome).resolves.toEqual({ outcome: "unknown", evidence: "restart", detail });
      await rig.mechanism.stop();
    },
  );
});
