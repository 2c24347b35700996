import { z } from "zod";
import { positiveAmountSchema } from "../../platform/amount-input.ts";
import { type Catalog, catalog as catalogSchema, product, selectionId } from "../../protocol/catalog.ts";

/**
 * The catalog page's edit form, checked at the boundary: one row per selection (`selection`, `name`, `sku`, `price`
 * repeated), selections ticked in `remove`, and an optional new row (`new-*`). Prices come in major units ("1.50") and
 * become integer minor units by the currency's exponent: more decimals than the currency has, zero, a sign, an
 * exponent or anything but a plain decimal is refused. The result is a whole catalog, checked by the contract's own
 * schema, or the list of what is wrong; nothing is stored unless every row is right.
 */

const formText = (field: z.ZodString) => z.string().trim().pipe(field);

const priceIn = (currency: string) => positiveAmountSchema(currency, "must be more than zero");

export type CatalogFormResult = { ok: true; catalog: Catalog } | { ok: false; errors: string[] };

/**
 * `earlier` are the machine's earlier catalogs, oldest first: a selection taken out and added again gets back the MDB
 * item number it last had.
 */
export function parseCatalogForm(
  form: URLSearchParams,
  current: Catalog,
  earlier: readonly Catalog[] = [],
): CatalogFormResult {
  const { currency } = current;
  const row = z.strictObject({
    selection: formText(selectionId),
    name: formText(product.shape.name),
    sku: formText(product.shape.sku),
    price: priceIn(currency),
  });
  const selections = form.getAll("selection");
  const rows = selections.map((selection, index) => ({
    selection,
    name: form.getAll("name")[index] ?? "",
    sku: form.getAll("sku")[index] ?? "",
    price: form.getAll("price")[index] ?? "",
  }));
  const added = form.get("new-selection")?.trim() ?? "";
  if (added !== "") {
    rows.push({
      selection: added,
      name: form.get("new-name") ?? "",
      sku: form.get("new-sku") ?? "",
      price: form.get("new-price") ?? "",
    });
  }
  const removed = new Set(form.getAll("remove"));
  const errors: string[] = [];
  const products: Catalog["products"] = {};
  for (const raw of rows) {
    const label = raw.selection.trim() === "" ? "(no selection)" : raw.selection.trim();
    const parsed = row.safeParse(raw);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) errors.push(`${label}: ${issue.path.join(".")} ${issue.message}`);
      continue;
    }
    const { selection, name, sku, price } = parsed.data;
    if (Object.hasOwn(products, selection)) {
      errors.push(`${selection}: appears twice`);
      continue;
    }
    if (removed.has(selection)) continue;
    // The MDB item number is not edited here: it follows the selection it was configured for.
    const mdbItem = [current, ...[...earlier].reverse()].find((catalog) => Object.hasOwn(catalog.products, selection))
      ?.products[selection]?.mdbItem;
    products[selection] = { name, sku, priceMinor: price, ...(mdbItem !== undefined ? { mdbItem } : {}) };
  }
  if (errors.length > 0) return { ok: false, errors };
  const whole = catalogSchema.safeParse({ currency, products });
  if (!whole.success) return { ok: false, errors: whole.error.issues.map((issue) => issue.message) };
  return { ok: true, catalog: whole.data };
}
