import { describe, expect, it } from "vitest";
import { selectionFirstOffer } from "../../backend-bridge/purchase/selection-first.ts";
import type { MachineState } from "../../protocol/messages.ts";
import { describeEachStore, vendedEvent } from "./helpers/harness.ts";

/**
 * Selection first (issue 19): the machine holds a product the customer pressed before paying and says so in its
 * retained state; a createPurchase then reserves exactly that price, with the product as the invoice's row. Anything
 * doubtful about the held selection falls back to the ordinary purchase (the agent decides locally anyway).
 */

const catalog = {
  currency: "EUR",
  products: {
    A1: { name: "Still water", sku: "WATER-05", priceMinor: 150 },
    A2: { name: "Cola", sku: "COLA-033", priceMinor: 200 },
  },
};

function holding(held: MachineState["pendingSelection"], session: MachineState["session"] = null): MachineState {
  return {
    screen: "pay-for-selection",
    session,
    hardware: { driver: "mdb", link: "up" },
    lastFault: null,
    ...(held ? { pendingSelection: held } : {}),
    versions: { agent: "1", contract: 1 },
    ts: 1,
  };
}

describe("selectionFirstOffer", () => {
  const now = 1_000_000;
  const cola = { selection: "A2", priceMinor: 200, currency: "EUR", expiresAt: now + 30_000 };

  it("offers a held selection of the catalog at the machine's price (a promotion below the catalog's included)", () => {
    expect(selectionFirstOffer(holding(cola), catalog, now)).toEqual({
      selection: "A2",
      name: "Cola",
      priceMinor: 200,
    });
    expect(selectionFirstOffer(holding({ ...cola, priceMinor: 180 }), catalog, now)?.priceMinor).toBe(180);
  });

  it("ignores what cannot be trusted or no longer holds", () => {
    expect(selectionFirstOffer(undefined, catalog, now)).toBeUndefined();
    expect(selectionFirstOffer(holding(undefined), catalog, now)).toBeUndefined();
    expect(selectionFirstOffer(holding({ ...cola, expiresAt: now }), catalog, now)).toBeUndefined();
    expect(selectionFirstOffer(holding({ ...cola, expiresAt: now + 4_999 }), catalog, now)).toBeUndefined();
    expect(selectionFirstOffer(holding({ ...cola, expiresAt: now + 5_000 }), catalog, now)).toBeDefined();
    expect(selectionFirstOffer(holding({ ...cola, expiresAt: now + 600_000 }), catalog, now)).toBeDefined();
    expect(selectionFirstOffer(holding({ ...cola, expiresAt: now + 600_001 }), catalog, now)).toBeUndefined();
    expect(selectionFirstOffer({ ...holding(cola), screen: "idle" }, catalog, now)).toBeUndefined();
    const down = { ...holding(cola), hardware: { driver: "mdb", link: "down" as const } };
    expect(selectionFirstOffer(down, catalog, now)).toBeUndefined();
    expect(selectionFirstOffer(holding({ ...cola, currency: "SEK" }), catalog, now)).toBeUndefined();
    expect(selectionFirstOffer(holding({ ...cola, selection: "Z9" }), catalog, now)).toBeUndefined();
    expect(selectionFirstOffer(holding({ ...cola, selection: "constructor" }), catalog, now)).toBeUndefined();
    expect(selectionFirstOffer(holding({ ...cola, priceMinor: 201 }), catalog, now)).toBeUndefined();
    const open = { sessionId: "s", phase: "unlocked", budgetMinor: 500, spentMinor: 0, currency: "EUR" } as const;
    expect(selectionFirstOffer(holding(cola, open), catalog, now)).toBeUndefined();
  });
});

describeEachStore("createPurchase, selection first", (start) => {
  const body = { token: "M1", amount: 20.0, currency: "EUR", msisdn: "46701234567" };

  it("reserves exactly the held product's price, names it on the invoice, and bills it once vended", async () => {
    const h = await start();
    h.fleet.states.set(
      "M1",
      holding({ selection: "A2", priceMinor: 200, currency: "EUR", expiresAt: h.clock.now() + 60_000 }),
    );
    const answer = await h.createPurchase(body);
    const reference = answer.json.invoiceReferenceId as string;
    const purchase = await h.purchaseFor(reference);
    expect(purchase.amountMinor).toBe(200);
    const invoice = h.seqr.invoices.get(reference)?.invoice;
    expect(invoice?.rows).toEqual([{ description: "Cola", quantity: 1, total: { minor: 200, currency: "EUR" } }]);
    expect(invoice?.total).toEqual({ minor: 200, currency: "EUR" });
    expect(h.fleet.commands("payment-pending")[0]?.body).toMatchObject({ amountMinor: 200 });
    h.fleet.states.delete("M1");
    const sessionId = await h.reserve(reference);
    expect(h.fleet.commands("unlock")[0]?.body).toMatchObject({ sessionId, budgetMinor: 200 });
    await h.fleet.emit("M1", "unlocked", { sessionId, commandId: "x", budgetMinor: 200, currency: "EUR" });
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v1", 200));
    await h.fleet.emit("M1", "session-ended", {
      sessionId,
      reason: "single-vend-done",
      vendedCount: 1,
      vendedTotalMinor: 200,
      unknownCount: 0,
      currency: "EUR",
    });
    await h.waitForState(reference, "committed");
    await h.quiesce();
    expect(h.seqr.invoices.get(reference)?.committed).toEqual({ minor: 200, currency: "EUR" });
  });

  it("an offer below the held price is INSUFFICIENT_FUNDS; an expired hold is an ordinary purchase", async () => {
    const h = await start();
    const held = { selection: "A2", priceMinor: 200, currency: "EUR", expiresAt: h.clock.now() + 60_000 };
    h.fleet.states.set("M1", holding(held));
    expect((await h.createPurchase({ ...body, amount: 1.5 })).json).toEqual({ errorCode: "INSUFFICIENT_FUNDS" });
    expect(h.seqr.count("sendInvoice")).toBe(0);
    h.fleet.states.set("M1", holding({ ...held, expiresAt: h.clock.now() }));
    const answer = await h.createPurchase(body);
    expect((await h.purchaseFor(answer.json.invoiceReferenceId as string)).amountMinor).toBe(2000);
  });
});
