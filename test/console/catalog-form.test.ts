import { describe, expect, it } from "vitest";
import { parseCatalogForm } from "../../backend-bridge/console/catalog-form.ts";
import type { Catalog } from "../../protocol/catalog.ts";

/** The catalog page's form as parsed: the MDB item number, not on the form, follows its selection. */
describe("the catalog form", () => {
  const withCola: Catalog = {
    currency: "EUR",
    products: {
      A1: { name: "Water", sku: "WATER-05", priceMinor: 150, mdbItem: 1 },
      A2: { name: "Cola", sku: "COLA-033", priceMinor: 200, mdbItem: 2 },
    },
  };
  const colaTakenOut: Catalog = { currency: "EUR", products: { A1: withCola.products.A1! } };
  const form = (rows: string[][], added?: string[]) => {
    const body = new URLSearchParams();
    for (const [selection = "", name = "", sku = "", price = ""] of rows) {
      body.append("selection", selection);
      body.append("name", name);
      body.append("sku", sku);
      body.append("price", price);
    }
    if (added) {
      const [selection = "", name = "", sku = "", price = ""] = added;
      body.set("new-selection", selection);
      body.set("new-name", name);
      body.set("new-sku", sku);
      body.set("new-price", price);
    }
    return body;
  };

  it("keeps a selection's MDB item number when its price changes", () => {
    const parsed = parseCatalogForm(
      form([
        ["A2", "Cola", "COLA-033", "2.20"],
        ["A1", "Water", "WATER-05", "1.50"],
      ]),
      withCola,
    );
    expect(parsed).toMatchObject({ ok: true, catalog: { products: { A2: { priceMinor: 220, mdbItem: 2 } } } });
  });

  it("a selection taken out of service and added again gets back the MDB item number it had (an MDB machine cannot sell it without)", () => {
    const parsed = parseCatalogForm(
      form([["A1", "Water", "WATER-05", "1.50"]], ["A2", "Cola", "COLA-033", "2.00"]),
      colaTakenOut,
      [withCola],
    );
    expect(parsed).toMatchObject({ ok: true, catalog: { products: { A2: { priceMinor: 200, mdbItem: 2 } } } });
  });

  it("a new selection never seen before has no MDB item number", () => {
    const parsed = parseCatalogForm(
      form([["A1", "Water", "WATER-05", "1.50"]], ["B1", "Juice", "JUICE-02", "2.50"]),
      colaTakenOut,
      [withCola],
    );
    expect(parsed.ok && parsed.catalog.products.B1).toEqual({ name: "Juice", sku: "JUICE-02", priceMinor: 250 });
  });
});
