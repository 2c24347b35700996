import fc from "fast-check";
import { describe, it } from "vitest";
import type { MoneyRule } from "./helpers/model-checks.ts";
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
 * (MODEL_SHRINK=1 shrinks it to its essential steps). More runs by hand: MODEL_RUNS=2000. The default (150 runs)
 * keeps it well under a minute on a loaded 2-core machine.
 */

/**
 * Rules whose fix has not landed on this branch yet (issue 15), named so that nothing is skipped silently; each is
 * checked, and fails, in the model test kept beside the fix until it lands. Empty once every fix is in.
 */
const awaitingFix: Partial<Record<MoneyRule, string>> = {
  "no-cancel-while-unlock-valid": "defect 3: unlock-ack timeout cancels a reservation the agent may still honour",
  "commit-at-most-registry-price": "defect 5: the machine's reported price is billed",
  "price-disagreement-flagged": "defect 5: an unknown selection or a dearer price is not flagged",
  "vends-billed-or-flagged": "defect 5: a dearer price is billed as reported without a flag",
};

describe("purchase model: the money rules hold under any interleaving", () => {
  it("never bills more than dropped, never twice, never silently loses a vend, and frees the machine", async () => {
    const skip = new Set(Object.keys(awaitingFix));
    await fc.assert(
      fc.asyncProperty(modelCommands(), (steps) => runModel(steps, skip)),
      modelRunOptions(),
    );
    reportReached();
  }, 600_000);
});
