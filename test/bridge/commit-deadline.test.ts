import { expect, it } from "vitest";
import { describeEachStore, sessionEndedEvent, vendedEvent } from "./helpers/harness.ts";

/**
 * Issue 15, defect 9: SEQR's commitReservationTimeout runs from when SEQR created the invoice, not from when the bridge
 * saw RESERVED. A customer who takes 100 s to confirm leaves 100 s less to commit. And a commit that fails is recorded
 * as it happened: how many attempts, what was to be billed, what was committed (nothing), and why.
 */

describeEachStore("commit deadline and failed commits", (start) => {
  it("the session is forced closed 540 s after the invoice, however late the customer confirmed", async () => {
    const h = await start();
    const reference = await h.purchase();
    const invoicedAt = (await h.purchaseFor(reference)).invoicedAt!;
    await h.clock.advance(100_000);
    const sessionId = await h.reserve(reference);
    await h.fleet.emit("M1", "unlocked", { sessionId, commandId: "x", budgetMinor: 2000, currency: "EUR" });
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v1", 150));
    // 600 s reservation, 60 s margin: 540 s after the invoice, whatever time RESERVED was seen.
    await h.clock.advance(invoicedAt + 540_000 - h.clock.now() - 1);
    expect((await h.purchaseFor(reference)).state).toBe("vending");
    await h.clock.advance(1);
    await h.drainOutbox();
    const done = await h.waitForState(reference, "committed");
    expect(h.seqr.only().committed?.minor).toBe(150);
    // Only the forced end is flagged: the machine never reported its total, so there is none to disagree with.
    expect(done.reconciliation).toBe("commit-deadline");
    const rows = await h.store.listOutbox(sessionId);
    expect(rows.find((row) => row.kind === "commitReservation")?.deadlineAt).toBe(invoicedAt + 600_000);
  });

  it("a failed commit is recorded with its attempts, what was billed and what was committed, and why", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    await h.fleet.emit("M1", "unlocked", { sessionId, commandId: "x", budgetMinor: 2000, currency: "EUR" });
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v1", 150));
    // Two transport failures, then SEQR says the reservation expired (58): given up on the third attempt.
    h.seqr.fail("commitReservation", "transport", { times: 2 });
    h.seqr.fail("commitReservation", 58);
    await h.fleet.emit("M1", "session-ended", sessionEndedEvent(sessionId, 1, 150));
    await h.drainOutbox();
    await h.clock.advance(1_000);
    await h.drainOutbox();
    await h.clock.advance(2_000);
    await h.drainOutbox();
    const failed = await h.waitForState(reference, "failed");
    expect(h.seqr.count("commitReservation")).toBe(3);
    expect(failed.billedMinor).toBe(150);
    expect(failed.committedMinor).toBe(0);
    const entry = (await h.store.listAudit(sessionId)).find((e) => e.toState === "failed");
    expect(entry?.reason).toBe("commit-failed");
    expect(entry?.detail).toMatchObject({ attempts: 3, billedMinor: 150, committedMinor: 0 });
    expect(String(entry?.detail?.error)).toMatch(/58/);
  });

  it("a commit that succeeds records what was committed", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    await h.vendAndEnd(sessionId, [150, 200]);
    await h.drainOutbox();
    const done = await h.waitForState(reference, "committed");
    expect(done).toMatchObject({ billedMinor: 350, committedMinor: 350 });
  });
});
