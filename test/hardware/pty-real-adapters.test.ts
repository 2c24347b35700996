import { afterAll, afterEach, describe, expect, it } from "vitest";
import { eventually } from "../helpers/eventually.ts";
import { hasTool } from "../helpers/system-tools.ts";
import { PtyRigs } from "./pty-rigs.ts";
import { denyOneThenSelectAnother, expectNextVendDelivered, vendLeftInFlight } from "./rigs.ts";

/**
 * The sequences real Qibixx adapters print (issue 19, docs/mdb-adapters.md), replayed by the faithful VMC simulator
 * over socat pty pairs with the real serialport binding: real time, real file descriptors, waits by events.
 */
describe.runIf(hasTool("socat"))("MDB driver against real adapter behaviour over a real pty (issue 19)", () => {
  const rigs = new PtyRigs();
  afterEach(() => rigs.cleanup());
  afterAll(() => rigs.closeAll());

  it("fresh power-up ('cashless is off' to C,0) and older firmware (OFFLINE/ONLINE, mdb-addr): set up once", async () => {
    const { vmc, mechanism } = await rigs.mdb({ firmware: "legacy", pollAckIntervalMs: 100 });
    expect(mechanism.isUp()).toBe(true);
    expect(vmc.config.get("mdb-addr")).toBe("0x10");
    const current = await rigs.mdb({ pollAckIntervalMs: 100 });
    expect(current.vmc.errors[0]).toBe("cashless is off");
    expect(current.mechanism.isUp()).toBe(true);
    // The r,ACK stream flows and nothing sets either adapter up again.
    await eventually(() => expect(current.vmc.pollAcks).toBeGreaterThan(10));
    expect(vmc.received.filter((line) => line === "C,0")).toHaveLength(1);
    expect(current.vmc.received.filter((line) => line === "C,0")).toHaveLength(1);
  });

  it("adapter reboot with the port open mid-vend: unknown, never delivered; set up again; the next vend works", async () => {
    const { vmc, mechanism, seen } = await rigs.mdb({ pollAckIntervalMs: 100 }, { pollSilenceMs: 1_500 });
    await eventually(() => expect(vmc.pollAcks).toBeGreaterThan(3));
    const { outcome } = await vendLeftInFlight(vmc, mechanism, seen);
    vmc.reboot();
    await expect(outcome).resolves.toMatchObject({ outcome: "unknown", evidence: "restart" });
    await eventually(() => expect(vmc.setupCount).toBe(2));
    await eventually(() => expect(mechanism.isUp()).toBe(true));
    await expectNextVendDelivered(vmc, mechanism);
  });

  it("deny is C,VEND,-1 (no STOP -3); a refused approval (VEND -3) is not-delivered at once, never delivered", async () => {
    const { vmc, mechanism, seen } = await rigs.mdb({ pollAckIntervalMs: 100 });
    await denyOneThenSelectAnother(vmc, mechanism, seen);
    vmc.vendRequestExpires();
    const started = Date.now();
    await expect(mechanism.vend("A2", 200)).resolves.toMatchObject({ outcome: "not-delivered" });
    // Well inside the 120 s vend-result timeout of this rig: the refusal itself ended it.
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(vmc.errors).toContain("VEND -3");
    expect(vmc.errors).not.toContain("STOP -3");
    expect(vmc.approvals).toEqual([]);
    await mechanism.closeSession();
    expect(vmc.state).toBe("ENABLED");
  });
});
