import { dayOf } from "./period.ts";
import type { Sale } from "./sales.ts";

/**
 * Sales totals per machine, per product or per day, pure over the sales (sales.ts). Amounts stay integer minor units;
 * a row never mixes currencies (the currency is part of every key). Per machine and per day a row also has the
 * purchases' reservations beside what was billed; per product there is no reservation (a reservation covers a whole
 * purchase, not one product).
 */

export const salesGroupings = ["machine", "product", "day"] as const;
export type SalesGrouping = (typeof salesGroupings)[number];

export interface SalesRow {
  /** The machine id, the product (its sku, or its selection when the machine sent no sku), or the day (YYYY-MM-DD). */
  key: string;
  /** The product's name as last vended (per product only). */
  name: string | null;
  currency: string;
  /** Purchases that billed (per machine and day); per product, the purchases that had the product. */
  purchases: number;
  vends: number;
  reservedMinor: number | null;
  billedMinor: number;
}

export interface SalesReport {
  by: SalesGrouping;
  rows: SalesRow[];
}

export function salesReport(sales: readonly Sale[], by: SalesGrouping, utcOffsetMinutes = 0): SalesReport {
  const rows = new Map<string, SalesRow>();
  const row = (key: string, currency: string, name: string | null): SalesRow => {
    const id = `${key}\u0000${currency}`;
    let found = rows.get(id);
    if (!found) {
      found = {
        key,
        name,
        currency,
        purchases: 0,
        vends: 0,
        reservedMinor: by === "product" ? null : 0,
        billedMinor: 0,
      };
      rows.set(id, found);
    }
    return found;
  };
  for (const sale of sales) {
    if (by === "product") {
      const seen = new Set<SalesRow>();
      for (const vend of sale.vends) {
        const target = row(vend.sku ?? vend.selection, sale.currency, vend.name);
        if (vend.name !== null) target.name = vend.name;
        target.vends += 1;
        target.billedMinor += vend.priceMinor;
        if (!seen.has(target)) target.purchases += 1;
        seen.add(target);
      }
      continue;
    }
    const key = by === "machine" ? sale.machineId : dayOf(sale.at, utcOffsetMinutes);
    const target = row(key, sale.currency, null);
    target.purchases += 1;
    target.vends += sale.vends.length;
    target.reservedMinor = (target.reservedMinor ?? 0) + sale.reservedMinor;
    target.billedMinor += sale.billedMinor;
  }
  const sorted = [...rows.values()].sort((a, b) => compare(a.key, b.key) || compare(a.currency, b.currency));
  return { by, rows: sorted };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
