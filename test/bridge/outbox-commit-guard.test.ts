import { expect, it } from "vitest";
import { describeEachStore } from "./helpers/harness.ts";

/**
 * The last guard of design §4.3 ("never commit more than was reserved") is in the outbox's commitReservation handler,
 * behind the orchestrator's own cap. To reach it, the test bypasses the orchestrator: it rewrites the queued commit
 * row in the store to ask one minor unit more than the reservation. The handler must refuse without calling SEQR, and
 * the purchase ends failed and flagged for reconciliation.
 */

describeEachStore("commit guard in the outbox", (start) => {
  it("a commit row above the reservation (orchestrator cap bypassed) is refused, never sent to SEQR", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    // The worker waits: the commit row must be rewritten before anything runs it.
    await h.app.outbox.stop();
    await h.vendAndEnd(sessionId, [150]);
    await h.quiesce();
    const purchase = await h.purchaseFor(reference);
    expect(purchase.state).toBe("committing");
    const queued = (await h.store.listOutbox(sessionId)).find((row) => row.kind === "commitReservation");
    if (!queued) throw new Error("no commitReservation row");
    expect(queued.payload).toMatchObject({ amountMinor: 150 }); // the orchestrator's own row is within the cap

    const above = purchase.amountMinor + 1;
    await h.store.enqueueOutbox({
      sessionId,
      kind: "commitReservation",
      payload: { amountMinor: above, currency: purchase.currency },
      at: h.clock.now(),
      deadlineAt: queued.deadlineAt,
      rearm: true,
    });
    await h.app.outbox.runDue();

    expect(h.seqr.count("commitReservation")).toBe(0);
    expect(h.seqr.only().commitCount).toBe(0);
    const row = (await h.store.listOutbox(sessionId)).find((item) => item.kind === "commitReservation");
    expect(row?.status).toBe("dead");
    expect(row?.lastError).toBe(`refused to commit ${above} of a ${purchase.amountMinor} reservation`);
    const failed = await h.waitForState(reference, "failed");
    expect(failed.reconciliation).toContain("commit-failed");
  });
});
