import { describe, expect, it } from "vitest";
import { runOperatorCli } from "./helpers/operator-cli.ts";
import { kitAndStorePerTest, paidPurchase } from "./helpers/paid-purchase.ts";
import { storeKinds } from "./helpers/test-stores.ts";

/** `vend-bridge refund` in-process against the SEQR sandbox, on both stores. */
describe.each(storeKinds)("vend-bridge refund on %s", (kind) => {
  const shop = kitAndStorePerTest(kind);

  it("refunds a decimal --amount with --json, then the rest, naming the actor; exit 0", async () => {
    const { sessionId } = await paidPurchase(shop.kit, shop.t.store, { committedMinor: 450 });
    const partial = await runOperatorCli(shop.kit, shop.t.url, [
      "refund",
      sessionId,
      "--amount",
      "1.20",
      "--actor",
      "alice",
      "--json",
    ]);
    expect(partial.code).toBe(0);
    expect(partial.json).toMatchObject({
      outcome: "refunded",
      repeated: false,
      refund: { sessionId, amountMinor: 120, currency: "EUR", actor: "alice", status: "refunded" },
    });
    const rest = await runOperatorCli(shop.kit, shop.t.url, ["refund", sessionId, "--actor", "alice"]);
    expect(rest.code).toBe(0);
    expect(rest.stdout).toMatch(/^refunded: 3\.30 EUR of purchase /);
    expect((await shop.t.store.listRefunds(sessionId)).map((refund) => refund.amountMinor)).toEqual([120, 330]);
  });

  it("a repeated --refund-id is answered from the store (exit 0, nothing sent); too much is refused (exit 1)", async () => {
    const { sessionId } = await paidPurchase(shop.kit, shop.t.store, { committedMinor: 200 });
    const argv = ["refund", sessionId, "--amount", "0.50", "--refund-id", "R-batch-7", "--json"];
    expect((await runOperatorCli(shop.kit, shop.t.url, argv)).code).toBe(0);
    const again = await runOperatorCli(shop.kit, shop.t.url, argv);
    expect(again).toMatchObject({ code: 0, json: { outcome: "refunded", repeated: true } });
    expect(shop.kit.sandbox.soap.calls().filter((call) => call.operation === "refundPayment")).toHaveLength(1);
    const over = await runOperatorCli(shop.kit, shop.t.url, ["refund", sessionId, "--amount", "1.51", "--json"]);
    expect(over).toMatchObject({ code: 1, json: { outcome: "refused", refundableMinor: 150 } });
  });

  it("says what SEQR's 98 means and exits 1; a bad amount or id is a usage error (exit 2)", async () => {
    const { sessionId } = await paidPurchase(shop.kit, shop.t.store, { committedMinor: 200 });
    shop.kit.sandbox.faults.addCallFault({ operation: "refundPayment", effect: { kind: "result-code", code: 98 } });
    const refused = await runOperatorCli(shop.kit, shop.t.url, ["refund", sessionId]);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/^failed: 2\.00 EUR .*98: the refunds of this payment would exceed what was paid/);
    expect((await runOperatorCli(shop.kit, shop.t.url, ["refund", sessionId, "--amount", "-1"])).code).toBe(2);
    expect((await runOperatorCli(shop.kit, shop.t.url, ["refund", sessionId, "--refund-id", "a b"])).code).toBe(2);
    expect((await runOperatorCli(shop.kit, shop.t.url, ["refund"])).code).toBe(2);
  });
});
