import type { Catalog } from "../../protocol/catalog.ts";
import type { Sale } from "./sales.ts";

/**
 * The counters of a DEX audit, pure over one machine's sales (sales.ts). EVA-DTS keeps two sets: since
 * initialisation and since the last reset. The bridge has no reset button; it maps them to what an operator asks:
 * "since initialisation" is every sale up to the end of the period (the store's whole history of the machine),
 * "since reset" is the period itself (from --from on). Without --from the two are the same.
 */

export interface Counter {
  count: number;
  valueMinor: number;
}

export interface DexProduct {
  selection: string;
  /** The catalog's price now; for a selection no longer in the catalog, the price it was last billed at. */
  priceMinor: number;
  sku: string | null;
  sinceInit: Counter;
  sinceReset: Counter;
}

export interface DexCounters {
  machineId: string;
  machineName: string | null;
  currency: string;
  /** Paid vends: every billed vend (VA1; and DA2, since every sale through the bridge is cashless). */
  paid: { sinceInit: Counter; sinceReset: Counter };
  products: DexProduct[];
}

export class DexError extends Error {}

export function dexCounters(input: {
  machineId: string;
  machineName: string | null;
  catalog: Catalog | undefined;
  /** The machine's sales up to the end of the period, any order. */
  sales: readonly Sale[];
  /** The start of the period; undefined: since the first sale. */
  from: number | undefined;
}): DexCounters {
  const currencies = new Set(input.sales.map((sale) => sale.currency));
  if (input.catalog) currencies.add(input.catalog.currency);
  const [currency, ...others] = [...currencies];
  if (currency === undefined) throw new DexError(`machine ${input.machineId} is not known and has no sales`);
  if (others.length > 0) {
    throw new DexError(
      `machine ${input.machineId} has sales in ${[...currencies].sort().join(" and ")}; a DEX audit has one currency`,
    );
  }
  const zero = (): Counter => ({ count: 0, valueMinor: 0 });
  const paid = { sinceInit: zero(), sinceReset: zero() };
  const products = new Map<string, DexProduct>();
  for (const [selection, product] of Object.entries(input.catalog?.products ?? {})) {
    products.set(selection, {
      selection,
      priceMinor: product.priceMinor,
      sku: product.sku,
      sinceInit: zero(),
      sinceReset: zero(),
    });
  }
  const ordered = [...input.sales].sort((a, b) => a.at - b.at);
  for (const sale of ordered) {
    const inPeriod = input.from === undefined || sale.at >= input.from;
    for (const vend of sale.vends) {
      let product = products.get(vend.selection);
      if (!product) {
        product = { selection: vend.selection, priceMinor: 0, sku: vend.sku, sinceInit: zero(), sinceReset: zero() };
        products.set(vend.selection, product);
      }
      if (!input.catalog?.products[vend.selection]) product.priceMinor = vend.priceMinor;
      const counters = [paid.sinceInit, product.sinceInit, ...(inPeriod ? [paid.sinceReset, product.sinceReset] : [])];
      for (const counter of counters) {
        counter.count += 1;
        counter.valueMinor += vend.priceMinor;
      }
    }
  }
  return {
    machineId: input.machineId,
    machineName: input.machineName,
    currency,
    paid,
    products: [...products.values()].sort((a, b) => a.selection.localeCompare(b.selection, "en", { numeric: true })),
  };
}
