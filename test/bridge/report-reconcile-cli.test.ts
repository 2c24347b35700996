import { describe, expect, it } from "vitest";
import { type Kit, terminal } from "../seqr/seqr-test-kit.ts";
import { runOperatorCli } from "./helpers/operator-cli.ts";
import { kitAndStorePerTest, paidPurchase } from "./helpers/paid-purchase.ts";
import { storeKinds } from "./helpers/test-stores.ts";

const withoutResellerUser = (kit: Kit) => ({
  endpointUrl: kit.sandbox.soapUrl,
  terminalId: terminal.id,
  password: terminal.password,
});

/** `vend-bridge report reconcile` in-process against the SEQR sandbox, on both stores. */
describe.each(storeKinds)("vend-bridge report reconcile on %s", (kind) => {
  const shop = kitAndStorePerTest(kind);
  const reconcile = (argv: string[] = [], config: Record<string, unknown> = {}) =>
    runOperatorCli(shop.kit, shop.t.url, ["report", "reconcile", ...argv], {
      reconciliation: { reportRetryMs: 100 },
      ...config,
    });

  it("exits 0 when the books agree, and 1 with every difference in --json when SEQR's book has a planted payment", async () => {
    await paidPurchase(shop.kit, shop.t.store, { committedMinor: 150, at: Date.now() - 3_600_000 });
    const agree = await reconcile();
    expect(agree.code).toBe(0);
    expect(agree.stdout).toMatch(/closed: SEQR reported 1 payments and 0 refunds; the ledger agrees/);

    shop.kit.sandbox.ledger.periods.plantPayment({
      ersReference: "2026120300000000088888888",
      invoiceReference: "1700000000001",
      clientInvoiceId: "someone-else",
      terminalId: terminal.id,
      amountMinor: 420,
      currency: "EUR",
    });
    const differs = await reconcile(["--json"]);
    expect(differs.code).toBe(1);
    expect(differs.json).toMatchObject({
      status: "closed",
      payments: 1,
      differences: [{ kind: "payment-unknown-to-bridge", ersReference: "2026120300000000088888888", sessionId: null }],
    });
    const text = await reconcile();
    expect(text.code).toBe(0);
  });

  it("needs seqr.resellerUser (exit 78), and takes only the reconcile subcommand (exit 2)", async () => {
    const noUser = await runOperatorCli(shop.kit, shop.t.url, ["report", "reconcile"], {
      seqr: withoutResellerUser(shop.kit),
    });
    expect(noUser.code).toBe(78);
    expect((await reconcile(["extra"])).code).toBe(2);
    expect((await runOperatorCli(shop.kit, shop.t.url, ["report", "sideways"])).code).toBe(2);
  });
});
