import { expect, it } from "vitest";
import { describeEachStore } from "./helpers/harness.ts";

/**
 * After a commit the bridge sends the billed rows to SEQR as the customer's receipt (submitPaymentReceipt), through
 * the outbox: best effort, a bounded number of attempts, and a receipt that never goes through leaves the purchase
 * committed, billed and unflagged.
 */
describeEachStore("the customer's receipt", (start) => {
  it("is sent after the commit with the billed rows, the amount and SEQR's payment reference", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    await h.vendAndEnd(sessionId, [150, 150, 200]);
    await h.drainOutbox();
    const committed = await h.waitForState(reference, "committed");
    await h.drainOutbox();
    expect(h.seqr.receipts).toEqual([
      {
        ersReference: `ers${reference}`,
        mimeType: "text/plain",
        type: "PAYMENT_RECEIPT",
        text: `Vending M1\n2 x Still water  3.00 EUR\n1 x Cola  2.00 EUR\nPaid  5.00 EUR\nSEQR payment ers${reference}\n`,
      },
    ]);
    expect(committed.ersReference).toBe(`ers${reference}`);
    const audit = (await h.store.listAudit(sessionId)).map((entry) => entry.reason);
    expect(audit.indexOf("receipt-submitted")).toBeGreaterThan(audit.indexOf("reservation-committed"));
    expect((await h.store.getOutbox(sessionId, "submitPaymentReceipt"))?.status).toBe("done");
  });

  it("a receipt SEQR keeps refusing is given up after 5 attempts; the purchase stays committed, billed, unflagged", async () => {
    const h = await start();
    h.seqr.fail("submitPaymentReceipt", 90, { times: 100 });
    const { reference, sessionId } = await h.reservedPurchase();
    await h.vendAndEnd(sessionId, [200]);
    await h.drainOutbox();
    await h.waitForState(reference, "committed");
    for (let pass = 0; pass < 10; pass++) {
      await h.clock.advance(30_000);
      await h.drainOutbox();
    }
    expect(h.seqr.count("submitPaymentReceipt")).toBe(5);
    expect(h.seqr.receipts).toEqual([]);
    const purchase = await h.purchaseFor(reference);
    expect(purchase).toMatchObject({ state: "committed", billedMinor: 200, committedMinor: 200, reconciliation: null });
    expect((await h.store.getOutbox(sessionId, "submitPaymentReceipt"))?.status).toBe("dead");
    expect((await h.store.listAudit(sessionId)).at(-1)).toMatchObject({
      reason: "receipt-not-submitted",
      detail: { error: expect.stringContaining("5 attempts failed") },
    });
  });

  it("is not sent when seqr.submitReceipts is off", async () => {
    const h = await start({ seqr: { submitReceipts: false } });
    const { reference, sessionId } = await h.reservedPurchase();
    await h.vendAndEnd(sessionId, [150]);
    await h.drainOutbox();
    await h.waitForState(reference, "committed");
    await h.drainOutbox();
    expect(h.seqr.count("submitPaymentReceipt")).toBe(0);
    expect(await h.store.getOutbox(sessionId, "submitPaymentReceipt")).toBeUndefined();
  });
});
