import type { Catalog } from "../../protocol/catalog.ts";

/**
 * What a confirmed vend is billed (issue 15, defect 5): the machine's report is evidence, the registry's catalog is the
 * price list. At most the catalog price of the selection is billed; a selection the registry does not know is not
 * billed at all. Either case is flagged for reconciliation with both figures. A lower reported price (a discount set
 * on the machine) is billed as reported.
 */
export type VendPriceDecision =
  | { priceMinor: number; flag: null }
  | {
      priceMinor: number;
      flag: "vend-price-above-catalog" | "vend-selection-unknown";
      catalogPriceMinor: number | null;
    };

export function vendPrice(
  catalog: Catalog | undefined,
  selection: string,
  reportedPriceMinor: number,
): VendPriceDecision {
  const product = catalog && Object.hasOwn(catalog.products, selection) ? catalog.products[selection] : undefined;
  if (!product) return { priceMinor: 0, flag: "vend-selection-unknown", catalogPriceMinor: null };
  if (reportedPriceMinor > product.priceMinor) {
    return { priceMinor: product.priceMinor, flag: "vend-price-above-catalog", catalogPriceMinor: product.priceMinor };
  }
  return { priceMinor: reportedPriceMinor, flag: null };
}
