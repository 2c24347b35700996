import { expect, it } from "vitest";
import { describeEachStore, type Harness } from "./helpers/harness.ts";

/**
 * The receipt row (submitPaymentReceipt) in the detail an operator reads and a power cut tests: it is only queued
 * when SEQR named the payment; a row without a payment reference is given up without a call; a refusal that repeating
 * cannot cure is given up at once, a passing failure is retried and not shown as "outcome unknown"; the audit entry
 * names the row and the calls made (and the error only on failure); a sent receipt is recorded without waiting for the
 * fsync, a given-up one durably. receipts.test.ts covers the receipt's content, the bounded retries and the setting.
 */

/** A committed purchase whose receipt row has been tried once (or more, when SEQR answers at once). */
async function committed(h: Harness) {
  const { reference, sessionId } = await h.reservedPurchase();
  await h.vendAndEnd(sessionId, [150]);
  await h.drainOutbox();
  await h.waitForState(reference, "committed");
  await h.drainOutbox();
  return { reference, sessionId };
}

async function receiptAudit(h: Harness, sessionId: string) {
  return (await h.store.listAudit(sessionId)).filter((entry) => entry.reason.startsWith("receipt-"));
}

/**
 * The receipt's first call fails in passing; the second succeeds, or meets `refusal`. What the second settles the row
 * as, and what that costs in durable and deferred commits (the retry before it is left out).
 */
async function secondReceiptAttempt(h: Harness, refusal?: number) {
  h.seqr.fail("submitPaymentReceipt", "transport");
  if (refusal !== undefined) h.seqr.fail("submitPaymentReceipt", refusal);
  const { sessionId } = await committed(h);
  expect((await h.store.getOutbox(sessionId, "submitPaymentReceipt"))?.status).toBe("pending");
  await h.quiesce();
  const before = { ...h.store.stats };
  await h.clock.advance(30_000);
  await h.drainOutbox();
  return {
    status: (await h.store.getOutbox(sessionId, "submitPaymentReceipt"))?.status,
    durableCommits: h.store.stats.durableCommits - before.durableCommits,
    deferredCommits: h.store.stats.deferredCommits - before.deferredCommits,
  };
}

describeEachStore("the receipt row", (start) => {
  it("is not queued when SEQR named no payment reference for the commit: there is nothing to attach it to", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    // The status read after the commit fails, and commitReservation itself answers no ersReference.
    h.seqr.fail("getPaymentStatus", "transport");
    await h.vendAndEnd(sessionId, [150]);
    await h.drainOutbox();
    const purchase = await h.waitForState(reference, "committed");
    await h.drainOutbox();
    expect(purchase.ersReference ?? undefined).toBeUndefined();
    expect(await h.store.getOutbox(sessionId, "submitPaymentReceipt")).toBeUndefined();
    expect(h.seqr.count("submitPaymentReceipt")).toBe(0);
    expect(await receiptAudit(h, sessionId)).toEqual([]);
  });

  it("a row that carries no payment reference is given up without calling SEQR, and says why", async () => {
    const h = await start({ seqr: { submitReceipts: false } });
    const { sessionId } = await committed(h);
    // The bridge queues a receipt only with SEQR's reference (above); a row written otherwise (by hand, from a
    // restored database) must still never reach SEQR with an empty one.
    const at = h.clock.now();
    await h.store.enqueueOutbox({ sessionId, kind: "submitPaymentReceipt", payload: {}, at, deadlineAt: at + 60_000 });
    await h.drainOutbox();
    expect(h.seqr.count("submitPaymentReceipt")).toBe(0);
    const row = await h.store.getOutbox(sessionId, "submitPaymentReceipt");
    expect(row?.status).toBe("dead");
    expect((await receiptAudit(h, sessionId)).map((entry) => [entry.reason, entry.detail])).toEqual([
      ["receipt-not-submitted", { outboxId: row?.id, attempts: 1, error: "no payment reference" }],
    ]);
  });

  it("a refusal that repeating cannot cure (54, unknown reference) is given up after the one call, with SEQR's error", async () => {
    const h = await start();
    h.seqr.fail("submitPaymentReceipt", 54);
    const { reference, sessionId } = await committed(h);
    for (let pass = 0; pass < 3; pass++) {
      await h.clock.advance(30_000);
      await h.drainOutbox();
    }
    expect(h.seqr.count("submitPaymentReceipt")).toBe(1);
    const row = await h.store.getOutbox(sessionId, "submitPaymentReceipt");
    expect(row?.status).toBe("dead");
    const audit = await receiptAudit(h, sessionId);
    expect(audit.map((entry) => [entry.reason, entry.detail])).toEqual([
      [
        "receipt-not-submitted",
        { outboxId: row?.id, attempts: 1, error: expect.stringMatching(/^SEQR submitPaymentReceipt: resultCode 54/) },
      ],
    ]);
    expect(await h.purchaseFor(reference)).toMatchObject({
      state: "committed",
      reconciliation: null,
    });
  });

  for (const failure of ["transport", "timeout", 90] as const) {
    it(`a passing failure (${failure}) is retried, and the operator does not see it as an unknown outcome`, async () => {
      const h = await start();
      h.seqr.fail("submitPaymentReceipt", failure);
      const { sessionId } = await committed(h);
      const row = await h.store.getOutbox(sessionId, "submitPaymentReceipt");
      expect(row).toMatchObject({ status: "pending", attempts: 1, outcomeUnknown: false });
      expect(row?.lastError).toContain("SEQR submitPaymentReceipt");
      await h.clock.advance(30_000);
      await h.drainOutbox();
      expect(h.seqr.receipts).toHaveLength(1);
      expect((await receiptAudit(h, sessionId)).map((entry) => [entry.reason, entry.detail])).toEqual([
        ["receipt-submitted", { outboxId: row?.id, attempts: 2 }],
      ]);
    });
  }

  it("a receipt sent at once is audited with the row and one call, and no error", async () => {
    const h = await start();
    const { sessionId } = await committed(h);
    const row = await h.store.getOutbox(sessionId, "submitPaymentReceipt");
    expect(row?.status).toBe("done");
    expect((await receiptAudit(h, sessionId)).map((entry) => [entry.reason, entry.detail])).toEqual([
      ["receipt-submitted", { outboxId: row?.id, attempts: 1 }],
    ]);
  });

  it("a sent receipt is recorded without waiting for the fsync (sending it again is harmless)", async () => {
    const h = await start();
    expect(await secondReceiptAttempt(h)).toEqual({ status: "done", durableCommits: 0, deferredCommits: 1 });
  });

  it("a given-up receipt is recorded durably, like every failure", async () => {
    const h = await start();
    expect(await secondReceiptAttempt(h, 54)).toEqual({ status: "dead", durableCommits: 1, deferredCommits: 0 });
  });
});
