import { describe, expect, it } from "vitest";
import { closeSeqrPeriod, type PeriodCloseSettings } from "../../backend-bridge/operator/period-close.ts";
import { refundPurchase } from "../../backend-bridge/operator/refund.ts";
import { systemClock } from "../../platform/clock.ts";
import { terminal } from "../seqr/seqr-test-kit.ts";
import { kitAndStorePerTest, paidPurchase } from "./helpers/paid-purchase.ts";
import { storeKinds } from "./helpers/test-stores.ts";

/**
 * The SEQR period close against the sandbox's own book, on both stores: a clean period gives no difference; a payment
 * planted in SEQR's book, an amount SEQR took differently, a commit SEQR never reported and a refund it reports
 * differently each become a reconciliation item (a flag on the purchase, or a stored item); SEQR failures are recorded.
 */
const settings: PeriodCloseSettings = {
  reportId: "Reconciliation/Shop.xml",
  reportRetryMs: 10,
  reportAttempts: 3,
  intervalMs: 86_400_000,
  settleLagMs: 60_000,
};
const hourAgo = () => Date.now() - 3_600_000;

describe.each(storeKinds)("the SEQR period close on %s", (kind) => {
  const shop = kitAndStorePerTest(kind);
  const close = () => closeSeqrPeriod({ store: shop.t.store, seqr: shop.kit.client, clock: systemClock, settings });

  it("finds no difference when SEQR's book and the ledger agree, refunds included", async () => {
    const { sessionId } = await paidPurchase(shop.kit, shop.t.store, { committedMinor: 300, at: hourAgo() });
    await paidPurchase(shop.kit, shop.t.store, { committedMinor: 150, at: hourAgo() });
    await refundPurchase(
      { store: shop.t.store, seqr: shop.kit.client, clock: { ...systemClock, now: () => hourAgo() } },
      { sessionId, amountMinor: 100, actor: "alice" },
    );
    const result = await close();
    expect(result).toMatchObject({ status: "closed", payments: 2, refunds: 1, differences: [] });
    expect((await shop.t.store.getPurchase(sessionId))?.reconciliation).toBeNull();
    expect(await shop.t.store.lastPeriodClose()).toMatchObject({ status: "closed", differences: 0 });
  });

  it("turns a payment planted in SEQR's book into a stored item, and an altered amount into a flag on the purchase", async () => {
    const clean = await paidPurchase(shop.kit, shop.t.store, { committedMinor: 200, at: hourAgo() });
    const altered = await paidPurchase(shop.kit, shop.t.store, { committedMinor: 250, at: hourAgo() });
    shop.kit.sandbox.ledger.periods.plantPayment({
      ersReference: "2026120300000000099999999",
      invoiceReference: "1700000000000",
      clientInvoiceId: "not-ours",
      terminalId: terminal.id,
      amountMinor: 999,
      currency: "EUR",
    });
    expect(shop.kit.sandbox.ledger.periods.alterPayment(altered.ersReference, 2_500)).toBe(true);

    const result = await close();
    expect(result.status === "closed" && result.differences.map((each) => [each.kind, each.ersReference])).toEqual([
      ["payment-differs", altered.ersReference],
      ["payment-unknown-to-bridge", "2026120300000000099999999"],
    ]);
    expect(await shop.t.store.listReconciliationItems()).toMatchObject([
      {
        kind: "payment-unknown-to-bridge",
        ersReference: "2026120300000000099999999",
        detail: { seqr: { amountMinor: 999, currency: "EUR", clientInvoiceId: "not-ours" } },
      },
    ]);
    expect((await shop.t.store.getPurchase(altered.sessionId))?.reconciliation).toBe("seqr-payment-differs");
    expect((await shop.t.store.listAudit(altered.sessionId)).at(-1)).toMatchObject({
      reason: "reconcile:seqr-payment-differs",
      detail: { seqr: { amountMinor: 2_500 }, ours: { amountMinor: 250, state: "committed" } },
    });
    expect((await shop.t.store.getPurchase(clean.sessionId))?.reconciliation).toBeNull();
  });

  it("flags a committed purchase SEQR never reported, once it has had time to settle, and a refund SEQR does not know", async () => {
    const reported = await paidPurchase(shop.kit, shop.t.store, { committedMinor: 100, at: hourAgo() });
    const ghost = await paidPurchase(shop.kit, shop.t.store, { committedMinor: 120, at: hourAgo() });
    const fresh = await paidPurchase(shop.kit, shop.t.store, { committedMinor: 130 });
    // SEQR's book loses the ghost's payment (as if it never settled there); the fresh one is inside the settle lag.
    shop.kit.sandbox.ledger.periods.withdrawPayment(ghost.ersReference);
    shop.kit.sandbox.ledger.periods.withdrawPayment(fresh.ersReference);
    const result = await close();
    expect(result.status === "closed" && result.differences.map((each) => [each.kind, each.sessionId])).toEqual([
      ["payment-missing-at-seqr", ghost.sessionId],
    ]);
    expect((await shop.t.store.getPurchase(reported.sessionId))?.reconciliation).toBeNull();
    expect((await shop.t.store.getPurchase(fresh.sessionId))?.reconciliation).toBeNull();

    // Next period: the ghost's refund is SEQR's but the bridge recorded none.
    await shop.kit.client.refundPayment(reported.ersReference, {
      title: "Refund",
      clientInvoiceId: "outside-the-bridge",
      cashierId: "M1",
      rows: [],
      total: { minor: 40, currency: "EUR" },
    });
    const next = await close();
    expect(next.status === "closed" && next.differences.map((each) => [each.kind, each.sessionId])).toEqual([
      ["refund-unknown-to-bridge", reported.sessionId],
    ]);
    expect((await shop.t.store.getPurchase(reported.sessionId))?.reconciliation).toBe("seqr-refund-unknown-to-bridge");
  });

  it("asks again while the report is not ready, and records a close SEQR refuses as failed, explained", async () => {
    shop.kit.sandbox.faults.addCallFault({
      operation: "executeReport",
      times: 2,
      effect: { kind: "result-code", code: 2 },
    });
    expect(await close()).toMatchObject({ status: "closed" });
    shop.kit.sandbox.faults.addCallFault({
      operation: "markTransactionPeriod",
      effect: { kind: "result-code", code: 20 },
    });
    const failed = await close();
    expect(failed).toMatchObject({ status: "failed", transactionPeriodId: null });
    expect(failed.status === "failed" && failed.error).toMatch(/20 AUTHENTICATION_FAILED.*check seqr.password/);
    shop.kit.sandbox.faults.addCallFault({
      operation: "executeReport",
      times: 3,
      effect: { kind: "result-code", code: 2 },
    });
    const notReady = await close();
    expect(notReady.status === "failed" && notReady.error).toMatch(/still not ready/);
    expect(notReady.transactionPeriodId).toMatch(/^\d{25}$/);
  });
});
