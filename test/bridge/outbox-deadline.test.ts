import { expect, it } from "vitest";
import { describeEachStore } from "./helpers/harness.ts";

/**
 * A commit whose outcome is unknown when its deadline comes: the outbox asks getPaymentStatus once more before it
 * gives up, so a reservation SEQR shows PAID never ends `failed` in the store.
 */

describeEachStore("outbox at the deadline", (start) => {
  it("a commit SEQR executed but whose answer was lost ends committed at the deadline, not failed", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    // SEQR commits, the answer is lost: the row's outcome is unknown.
    h.seqr.fail("commitReservation", "timeout", { when: "after" });
    await h.vendAndEnd(sessionId, [150]);
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
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    // The request times out before SEQR acts: outcome unknown, status still RESERVED.
    h.seqr.fail("commitReservation", "timeout", { when: "before" });
    await h.vendAndEnd(sessionId, [150]);
    await h.drainOutbox();
    await h.app.outbox.stop();
    await h.clock.advance(600_000);
    await h.app.outbox.runDue();
    const purchase = await h.waitForState(reference, "failed");
    expect(purchase.reconciliation).toContain("commit-failed");
    expect(h.seqr.count("commitReservation")).toBe(1);
  });
});
