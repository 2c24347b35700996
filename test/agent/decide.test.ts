import { describe, expect, it } from "vitest";
import type { OpenSession } from "../../agent/journal/journal-state.ts";
import {
  decideSelection,
  decideSelectionFirst,
  endAfterVend,
  findProduct,
  remainingBudget,
} from "../../agent/session/decide.ts";
import type { Catalog } from "../../protocol/catalog.ts";
import { openSession } from "./helpers/open-session.ts";

/** The session's pure decisions (money rule 3: never above the remaining budget), at their boundaries. */

const session = (overrides: Partial<OpenSession> = {}): OpenSession =>
  openSession("s1", { budgetMinor: 500, ...overrides });

const water = { name: "Still water", sku: "WATER", priceMinor: 150 };
const cola = { name: "Cola", sku: "COLA", priceMinor: 200, mdbItem: 7 };
const catalog: Catalog = { currency: "EUR", products: { A1: water, B2: cola } };

describe("remainingBudget", () => {
  it("is the budget less what is spent, never below zero", () => {
    expect(remainingBudget(session({ spentMinor: 200 }))).toBe(300);
    expect(remainingBudget(session({ spentMinor: 500 }))).toBe(0);
    expect(remainingBudget(session({ spentMinor: 650 }))).toBe(0);
  });
});

describe("findProduct", () => {
  it("finds a selection by its key, else by the VMC's item number", () => {
    expect(findProduct(catalog, { selection: "A1" })).toEqual({ selection: "A1", product: water });
    expect(findProduct(catalog, { selection: "7", mdbItem: 7 })).toEqual({ selection: "B2", product: cola });
    expect(findProduct(catalog, { selection: "8", mdbItem: 8 })).toBeNull();
  });

  it("does not match a product without an item number when the request has none, nor inherited keys", () => {
    expect(findProduct(catalog, { selection: "Z9" })).toBeNull();
    expect(findProduct(catalog, { selection: "toString" })).toBeNull();
    expect(findProduct(catalog, { selection: "__proto__" })).toBeNull();
  });
});

describe("decideSelection", () => {
  it("approves a catalog selection within the budget, at the catalog price or the machine's lower one", () => {
    expect(decideSelection(session(), catalog, { selection: "A1" })).toEqual({
      approve: true,
      selection: "A1",
      product: water,
      priceMinor: 150,
    });
    expect(decideSelection(session(), catalog, { selection: "7", mdbItem: 7, priceMinor: 120 })).toEqual({
      approve: true,
      selection: "B2",
      product: cola,
      priceMinor: 120,
    });
    // Exactly the catalog price and exactly the remaining budget are allowed.
    expect(decideSelection(session({ spentMinor: 300 }), catalog, { selection: "B2", priceMinor: 200 })).toMatchObject({
      approve: true,
      priceMinor: 200,
    });
  });

  it("refuses a price above the remaining budget, naming both", () => {
    expect(decideSelection(session({ spentMinor: 301 }), catalog, { selection: "B2" })).toEqual({
      approve: false,
      reason: "price 200 is above the remaining budget 199",
    });
  });

  it("refuses a machine price above the catalog price, or not a positive whole amount", () => {
    expect(decideSelection(session(), catalog, { selection: "A1", priceMinor: 151 })).toEqual({
      approve: false,
      reason: "machine price 151 is above the catalog price 150",
    });
    for (const priceMinor of [0, -1, 1.5, Number.NaN]) {
      expect(decideSelection(session(), catalog, { selection: "A1", priceMinor })).toEqual({
        approve: false,
        reason: `machine price ${priceMinor} is not a positive whole amount`,
      });
    }
    expect(decideSelection(session(), catalog, { selection: "A1", priceMinor: 1 })).toMatchObject({ approve: true });
  });

  it("refuses a selection not in the catalog, or a catalog in another currency", () => {
    expect(decideSelection(session(), catalog, { selection: "Z9" })).toEqual({
      approve: false,
      reason: "selection Z9 is not in the catalog",
    });
    expect(decideSelection(session({ currency: "SEK" }), catalog, { selection: "A1" })).toEqual({
      approve: false,
      reason: "catalog currency EUR is not the session's SEK",
    });
  });

  it("refuses a second vend in a single-vend session once one vended or may have, not after a failed one", () => {
    const used = { approve: false, reason: "single-vend session already used" };
    expect(decideSelection(session({ mode: "single-vend", vendedCount: 1 }), catalog, { selection: "A1" })).toEqual(
      used,
    );
    expect(decideSelection(session({ mode: "single-vend", unknownCount: 1 }), catalog, { selection: "A1" })).toEqual(
      used,
    );
    expect(decideSelection(session({ mode: "single-vend" }), catalog, { selection: "A1" })).toMatchObject({
      approve: true,
    });
    expect(decideSelection(session({ vendedCount: 1, unknownCount: 1 }), catalog, { selection: "A1" })).toMatchObject({
      approve: true,
    });
  });
});

describe("decideSelectionFirst", () => {
  const canSell = { canSell: true } as const;

  it("holds a selection until its answerBy, not at it: a decision at that very millisecond is too late", () => {
    const request = { selection: "B2", priceMinor: 200, answerBy: 10_000 };
    expect(decideSelectionFirst(catalog, request, 9_999, canSell)).toEqual({
      approve: true,
      selection: "B2",
      product: cola,
      priceMinor: 200,
    });
    const late = { approve: false, reason: "the machine no longer holds this selection" };
    expect(decideSelectionFirst(catalog, request, 10_000, canSell)).toEqual(late);
    expect(decideSelectionFirst(catalog, request, 10_001, canSell)).toEqual(late);
    // A machine that names no deadline holds it for as long as the session layer's own timeout says.
    expect(decideSelectionFirst(catalog, { selection: "A1" }, 10_000, canSell)).toMatchObject({ approve: true });
  });

  it("refuses when the machine cannot sell, naming why, and prices like an open session otherwise", () => {
    expect(decideSelectionFirst(catalog, { selection: "A1" }, 0, { canSell: false, why: "out of service" })).toEqual({
      approve: false,
      reason: "out of service",
    });
    expect(decideSelectionFirst(catalog, { selection: "A1", priceMinor: 151 }, 0, canSell)).toEqual({
      approve: false,
      reason: "machine price 151 is above the catalog price 150",
    });
  });
});

describe("endAfterVend", () => {
  it("ends a single-vend session after a delivered or unknown vend, not after a failed one", () => {
    expect(endAfterVend(session(), "single-vend", "delivered", 150)).toBe("single-vend-done");
    expect(endAfterVend(session(), "single-vend", "unknown", 150)).toBe("single-vend-done");
    expect(endAfterVend(session(), "single-vend", "failed", 150)).toBeNull();
  });

  it("ends a multi-vend session when the rest cannot buy the cheapest product", () => {
    expect(endAfterVend(session({ spentMinor: 351 }), "multi-vend", "delivered", 150)).toBe("budget-spent");
    expect(endAfterVend(session({ spentMinor: 350 }), "multi-vend", "delivered", 150)).toBeNull();
    expect(endAfterVend(session({ spentMinor: 350 }), "multi-vend", "failed", 150)).toBeNull();
  });
});
