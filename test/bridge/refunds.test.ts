import { describe, expect, it } from "vitest";
import { refundPurchase } from "../../backend-bridge/operator/refund.ts";
import { systemClock } from "../../platform/clock.ts";
import { kitAndStorePerTest, paidPurchase } from "./helpers/paid-purchase.ts";
import { storeKinds } from "./helpers/test-stores.ts";

/**
 * Refunds of committed purchases against the SEQR sandbox over HTTP, on both stores: full and partial, never above
 * what is left, a repeated refund id never sent twice, SEQR's refusals (97-99) and a lost answer recorded and
 * explained, each in the refunds table and the audit log with who asked.
 */
describe.each(storeKinds)("refunds on %s", (kind) => {
  const shop = kitAndStorePerTest(kind);

  const deps = () => ({ store: shop.t.store, seqr: shop.kit.client, clock: systemClock });
  const refundCalls = () => shop.kit.sandbox.soap.calls().filter((call) => call.operation === "refundPayment").length;

  it("refunds the whole committed amount by default, with SEQR's refund reference and the actor in the audit log", async () => {
    const { sessionId, invoiceReference } = await paidPurchase(shop.kit, shop.t.store, { committedMinor: 350 });
    const result = await refundPurchase(deps(), { sessionId, actor: "alice", note: "product stuck" });
    expect(result).toMatchObject({
      outcome: "refunded",
      repeated: false,
      refund: { amountMinor: 350, actor: "alice" },
    });
    const [stored] = await shop.t.store.listRefunds(sessionId);
    expect(stored).toMatchObject({
      status: "refunded",
      amountMinor: 350,
      currency: "EUR",
      resultCode: 0,
      note: "product stuck",
    });
    expect(stored?.ersReference).toMatch(/^\d{25}$/);
    expect(shop.kit.sandbox.ledger.get(invoiceReference)?.refunds).toMatchObject([
      { amount: { minor: 350, currency: "EUR" } },
    ]);
    const audit = (await shop.t.store.listAudit(sessionId)).map((entry) => [entry.reason, entry.detail?.actor]);
    expect(audit.slice(-2)).toEqual([
      ["refund-requested", "alice"],
      ["refund-refunded", "alice"],
    ]);
  });

  it("refunds part, then refuses more than is left without asking SEQR, then refunds the rest", async () => {
    const { sessionId } = await paidPurchase(shop.kit, shop.t.store, { committedMinor: 500 });
    expect(await refundPurchase(deps(), { sessionId, amountMinor: 200, actor: "bob" })).toMatchObject({
      outcome: "refunded",
      refund: { amountMinor: 200 },
    });
    const over = await refundPurchase(deps(), { sessionId, amountMinor: 301, actor: "bob" });
    expect(over).toEqual({
      outcome: "refused",
      reason: "the amount 301 exceeds what is left to refund (300 minor units)",
      refundableMinor: 300,
    });
    expect(refundCalls()).toBe(1);
    expect(await refundPurchase(deps(), { sessionId, actor: "bob" })).toMatchObject({ refund: { amountMinor: 300 } });
    expect(await refundPurchase(deps(), { sessionId, amountMinor: 1, actor: "bob" })).toMatchObject({
      outcome: "refused",
      refundableMinor: 0,
    });
    expect((await shop.t.store.listAudit(sessionId)).filter((entry) => entry.reason === "refund-refused")).toHaveLength(
      2,
    );
  });

  it("answers a repeated refund id from the store and never sends it twice, even at the same moment", async () => {
    const { sessionId } = await paidPurchase(shop.kit, shop.t.store, { committedMinor: 400 });
    const [first, second] = await Promise.all([
      refundPurchase(deps(), { sessionId, refundId: "R-script-1", amountMinor: 100, actor: "cron" }),
      refundPurchase(deps(), { sessionId, refundId: "R-script-1", amountMinor: 100, actor: "cron" }),
    ]);
    expect([first, second].filter((result) => "repeated" in result && result.repeated)).toHaveLength(1);
    const again = await refundPurchase(deps(), { sessionId, refundId: "R-script-1", amountMinor: 100, actor: "cron" });
    expect(again).toMatchObject({ outcome: "refunded", repeated: true, refund: { refundId: "R-script-1" } });
    expect(refundCalls()).toBe(1);
    expect(await shop.t.store.listRefunds(sessionId)).toHaveLength(1);
  });

  it.each([
    [97, /may not refund through the API/],
    [98, /exceed what was paid/],
    [99, /does not allow refunds/],
  ])("records SEQR's %i as a failed refund explained in words, and nothing counts as refunded", async (code, words) => {
    const { sessionId } = await paidPurchase(shop.kit, shop.t.store, { committedMinor: 250 });
    shop.kit.sandbox.faults.addCallFault({ operation: "refundPayment", effect: { kind: "result-code", code } });
    const result = await refundPurchase(deps(), { sessionId, actor: "carol" });
    expect(result).toMatchObject({ outcome: "failed", refund: { status: "failed", resultCode: code } });
    expect("explanation" in result && result.explanation).toMatch(words);
    const audit = (await shop.t.store.listAudit(sessionId)).at(-1);
    expect(audit).toMatchObject({ reason: "refund-failed", detail: { actor: "carol", seqr: { resultCode: code } } });
    expect(await refundPurchase(deps(), { sessionId, actor: "carol" })).toMatchObject({
      outcome: "refunded",
      refund: { amountMinor: 250 },
    });
  });

  it("a refund whose answer is lost is unknown, flags the purchase, and still counts against what is left", async () => {
    const { sessionId } = await paidPurchase(shop.kit, shop.t.store, { committedMinor: 300 });
    shop.kit.sandbox.faults.addCallFault({
      operation: "refundPayment",
      when: "after",
      effect: { kind: "http-status", status: 502 },
    });
    const result = await refundPurchase(deps(), { sessionId, amountMinor: 100, actor: "dave" });
    expect(result).toMatchObject({ outcome: "unknown", refund: { status: "unknown" } });
    expect((await shop.t.store.getPurchase(sessionId))?.reconciliation).toContain("refund-outcome-unknown");
    expect(await refundPurchase(deps(), { sessionId, amountMinor: 201, actor: "dave" })).toMatchObject({
      outcome: "refused",
      refundableMinor: 200,
    });
  });

  it("refuses a purchase that is not committed, and an unknown one", async () => {
    await shop.t.store.claimMachine({
      sessionId: "open-1",
      machineId: "M1",
      amountMinor: 2_000,
      currency: "EUR",
      msisdn: null,
      notifySecret: "n-1",
      at: 1,
    });
    expect(await refundPurchase(deps(), { sessionId: "open-1", actor: "eve" })).toMatchObject({
      outcome: "refused",
      reason: expect.stringContaining("claimed"),
    });
    expect(await refundPurchase(deps(), { sessionId: "nope", actor: "eve" })).toEqual({
      outcome: "not-found",
      sessionId: "nope",
    });
    expect(refundCalls()).toBe(0);
  });
});
