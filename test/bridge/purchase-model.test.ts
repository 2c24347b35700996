import fc from "fast-check";
import { describe, it } from "vitest";
import { modelCommands, modelRunOptions, reportReached, runModel } from "./helpers/model-steps.ts";

/**
 * Model-based property test of the purchase (issue 15): the real orchestrator, outbox worker and SQLite store, driven
 * by arbitrary interleavings of everything a fleet sends it - createPurchase, SEQR notifications and status changes,
 * SEQR faults and late answers, machine commands delivered late or twice, machine events delivered late, twice or out
 * of order, customers vending (at the registry's price or not), faults, machines and the bridge's broker link going
 * away, timers, crashes and restarts - with the money rules of design §4 checked after every step, and at the end,
 * once every fault is healed and every timer has run, that nothing stays open, unbilled or unavailable.
 *
 * Reproduce a failure: MODEL_SEED=<seed> MODEL_PATH=<path> npx vitest run test/bridge/purchase-model.test.ts
 * (MODEL_SHRINK=1 shrinks it to its essential steps). More runs by hand: MODEL_RUNS=2000. The default, 600 runs, meets
 * most defects of issue 15 within the first 30 runs and the rarest (a late sendInvoice answer, defect 7) about nine
 * times in ten; it takes well under a minute on a 2-core machine.
 */

describe("purchase model: the money rules hold under any interleaving", () => {
  it("never bills more than dropped, never twice, never silently loses a vend, and frees the machine", async () => {
    await fc.assert(
      fc.asyncProperty(modelCommands(), (steps) => runModel(steps)),
      modelRunOptions(),
    );
    reportReached();
  }, 600_000);
});
