import { afterEach, describe, expect, it } from "vitest";
import { Harness } from "./helpers/harness.ts";
import { storeKinds } from "./helpers/test-stores.ts";

/**
 * A commit whose outcome is unknown when its deadline comes: the outbox asks getPaymentStatus once more before it
 * gives up, so a reservation SEQR shows PAID never ends `failed` in the store.
 */

async function vendAndEnd(h: Harness, sessionId: string, priceMinor: number): Promise<void> {
  await h.fleet.emit("M1", "unlocked", { sessionId, commandId: "x", budgetMinor: 2000, currency: "EUR" });
  await h.fleet.emit("M1", "vended", {
    sessionId,
    vendId: "v1",
    selection: "A1",
    sku: "WATER-05",
    name: "Still water",
    priceMinor,
    currency: "EUR",
    evidence: "vend-success",
  });
  await h.fleet.emit("M1", "session-ended", {
    sessionId,
    reason: "customer-done",
    vendedCount: 1,
    vendedTotalMinor: priceMinor,
    unknownCount: 0,
    currency: "EUR",
  });
}

describe.each(storeKinds)("outbox at the deadline on %s", (kind) => {
  let h: Harness;
  afterEach(async () => {
    await h?.close();
  });

  it("a commit SEQR executed but whose answer was lost ends committed at the deadline, not failed", async () => {
    h = await Harness.start(kind);
    const reference = await h.purchase();
    const sessionId = await h.reserve(reference);
    // SEQR commits, the answer is lost: the row's outcome is unknown.
    h.seqr.fail("commitReservation", "timeout", { when: "after" });
    await vendAndEnd(h, sessionId, 150);
    await h.drainOutbox();
    expect(h.seqr.only().status).toBe("PAID");
    const [commitRow] = (await h.store.listOutbox(sessionId)).filter((row) => row.kind === "commitReservation");
    expect(commitRow?.outcomeUnknown).toBe(true);
    // No attempt runs until the deadline has passed (the worker was down meanwhile, say).
    await h.app.outbox.stop();
    await h.clock.advance(600_000);
    await h.app.outbox.runDue();
    const purchase = await h.waitForState(reference, "committed");
    expect(purchase.reconciliation).toBeNull();
    expect(h.seqr.count("commitReservation")).toBe(1);
    expect(h.seqr.only().commitCount).toBe(1);
  });

  it("a commit that did not go through (still RESERVED) is given up at the deadline and flagged, never repeated", async () => {
    h = await Harness.start(kind);
    const reference = await h.purchase();
    const sessionId = await h.reserve(reference);
    // The request times out before SEQR acts: outcome unknown, status still RESERVED.
    h.seqr.fail("commitReservation", "timeout", { when: "before" });
    await vendAndEnd(h, sessionId, 150);
    await h.drainOutbox();
    await h.app.outbox.stop();
    await h.clock.advance(600_000);
    await h.app.outbox.runDue();
    const purchase = await h.waitForState(reference, "failed");
    expect(purchase.reconciliation).toContain("commit-failed");
    expect(h.seqr.count("commitReservation")).toBe(1);
  });
});
