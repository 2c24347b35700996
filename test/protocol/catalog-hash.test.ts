import { describe, expect, it } from "vitest";
import { catalogInForce } from "../../backend-bridge/registry/machine-registry.ts";
import { type Catalog, catalogHash } from "../../protocol/catalog.ts";

/** The catalog's fingerprint in the agent's state, and which catalog a purchase of a given time is billed against. */

const base: Catalog = {
  currency: "EUR",
  products: { A1: { name: "Water", sku: "W", priceMinor: 150 }, A2: { name: "Cola", sku: "C", priceMinor: 200 } },
};
const priced = (priceMinor: number): Catalog => ({
  ...base,
  products: { ...base.products, A1: { name: "Water", sku: "W", priceMinor } },
});

describe("catalogHash", () => {
  it("is 16 hex digits and ignores key order", () => {
    const reordered: Catalog = {
      products: { A2: { priceMinor: 200, sku: "C", name: "Cola" }, A1: { sku: "W", name: "Water", priceMinor: 150 } },
      currency: "EUR",
    };
    expect(catalogHash(base)).toMatch(/^[0-9a-f]{16}$/);
    expect(catalogHash(reordered)).toBe(catalogHash(base));
  });

  it("changes with any price, name, SKU, MDB item, selection or the currency", () => {
    const variants: Catalog[] = [
      priced(151),
      { ...base, currency: "SEK" },
      { ...base, products: { ...base.products, A1: { name: "Water!", sku: "W", priceMinor: 150 } } },
      { ...base, products: { ...base.products, A1: { name: "Water", sku: "W2", priceMinor: 150 } } },
      { ...base, products: { ...base.products, A1: { name: "Water", sku: "W", priceMinor: 150, mdbItem: 1 } } },
      { ...base, products: { A1: base.products.A1 as Catalog["products"][string] } },
    ];
    const hashes = new Set([catalogHash(base), ...variants.map(catalogHash)]);
    expect(hashes.size).toBe(variants.length + 1);
  });
});

describe("catalogInForce", () => {
  const machine = {
    catalog: priced(300),
    catalogHistory: [
      { catalog: priced(100), until: 1_000 },
      { catalog: priced(200), until: 2_000 },
    ],
  };

  it("is the catalog that had not been replaced yet at that time", () => {
    expect(catalogInForce(machine, 500).products.A1?.priceMinor).toBe(100);
    expect(catalogInForce(machine, 1_000).products.A1?.priceMinor).toBe(200);
    expect(catalogInForce(machine, 1_999).products.A1?.priceMinor).toBe(200);
    expect(catalogInForce(machine, 2_000).products.A1?.priceMinor).toBe(300);
    expect(catalogInForce({ catalog: base }, 0)).toBe(base);
  });
});
