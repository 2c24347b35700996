import { afterEach, describe, expect, it } from "vitest";
import { SimulatedMechanism } from "../../hardware/simulators/simulated-mechanism.ts";
import type { VmcSimulatorOptions } from "../../hardware/simulators/vmc-simulator.ts";
import type { SelectionRequest, VendOutcome } from "../../hardware/vend-mechanism.ts";
import { silentLogger } from "../../platform/logger.ts";
import type { Catalog } from "../../protocol/catalog.ts";
import { mdbRig } from "./rigs.ts";

/**
 * Multi-vend on MDB (issue 21 item 6): a multi-vend VMC takes several VEND REQUESTs in one session and does not
 * re-enable the reader between them; the session ends when the reader (the agent) ends it. The simulated MDB machine
 * of `driver: simulator` (the demo's) behaves like that, so the demo's multi-vend machine can sell two products.
 */

const catalog: Catalog = {
  currency: "EUR",
  products: {
    A1: { name: "Still water", sku: "WATER", priceMinor: 150, mdbItem: 11 },
    A2: { name: "Cola", sku: "COLA", priceMinor: 200, mdbItem: 12 },
  },
};

async function until(predicate: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

/** An MDB rig whose agent approves every selection, started, with a session open; `outcomes` collects the vends. */
async function rigInSession(vmc: VmcSimulatorOptions) {
  const rig = mdbRig({ vmc });
  stops.push(() => rig.mechanism.stop());
  const outcomes: VendOutcome[] = [];
  rig.mechanism.on("selection", (request: SelectionRequest) => {
    void rig.mechanism
      .vend(request.selection, request.priceMinor ?? 0, request.requestId)
      .then((outcome) => outcomes.push(outcome));
  });
  await rig.mechanism.start();
  await until(() => rig.mechanism.isUp(), "the reader enabled");
  await rig.mechanism.openSession(1_000);
  return { rig, outcomes };
}

describe("the simulated MDB machine (driver: simulator, simulate: mdb)", () => {
  it("sells two products in one session; the reader stays in the session until the agent ends it", async () => {
    const mechanism = new SimulatedMechanism({ driver: "simulator", simulate: "mdb", vendDurationMs: 20 }, catalog, {
      logger: silentLogger(),
    });
    stops.push(() => mechanism.stop());
    const closedByMachine: string[] = [];
    const outcomes: VendOutcome[] = [];
    mechanism.on("sessionClosedByMachine", (reason) => closedByMachine.push(reason));
    // The agent's part: approve whatever is asked (the budget is the session's business, tested elsewhere).
    mechanism.on("selection", (request: SelectionRequest) => {
      void mechanism
        .vend(request.selection, request.priceMinor ?? 0, request.requestId)
        .then((outcome) => outcomes.push(outcome));
    });
    await mechanism.start();
    await until(() => mechanism.isUp(), "the reader enabled");
    const vmc = mechanism.machine.vmc;
    if (!vmc) throw new Error("no VMC");

    await mechanism.openSession(1_000);
    mechanism.requestSelection("A1");
    await until(() => outcomes.length === 1, "the first vend");
    mechanism.requestSelection("A2");
    await until(() => outcomes.length === 2, "the second vend");
    expect(outcomes.map((outcome) => outcome.outcome)).toEqual(["delivered", "delivered"]);
    expect(vmc.approvals).toEqual(["1.50", "2.00"]);
    expect(vmc.vendRequestsInSession).toBe(2);
    expect(vmc.sessionEnds).toBe(0);
    expect(vmc.state).toBe("IDLE");
    expect(closedByMachine).toEqual([]);

    await mechanism.closeSession();
    expect(vmc.sessionEnds).toBe(1);
    expect(vmc.state).toBe("ENABLED");
    expect(closedByMachine).toEqual([]); // ended by us, not by the machine
  });

  it("a failed vend in a multi-vend session leaves the session open for another choice", async () => {
    const { rig, outcomes } = await rigInSession({ multivend: true, vendDurationMs: 10 });
    rig.vmc.nextResults.push("failure");
    expect(rig.vmc.customerSelects(11, "1.50")).toBe(true);
    await until(() => outcomes.length === 1, "the failed vend");
    expect(rig.vmc.customerSelects(12, "2.00")).toBe(true);
    await until(() => outcomes.length === 2, "the second vend");
    expect(outcomes.map((outcome) => outcome.outcome)).toEqual(["not-delivered", "delivered"]);
    expect(rig.vmc.sessionEnds).toBe(0);
    expect(rig.seen.closed).toEqual([]);
  });

  it("a single-vend VMC still ends the session itself after one vend (the agent sees the machine close it)", async () => {
    const { rig, outcomes } = await rigInSession({ vendDurationMs: 10 });
    expect(rig.vmc.customerSelects(11, "1.50")).toBe(true);
    await until(() => rig.seen.closed.length === 1, "the VMC ending the session");
    expect(outcomes.map((outcome) => outcome.outcome)).toEqual(["delivered"]);
    expect(rig.vmc.sessionEnds).toBe(1);
    expect(rig.vmc.customerSelects(12, "2.00")).toBe(false);
  });
});
