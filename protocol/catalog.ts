import { createHash } from "node:crypto";
import { z } from "zod";
import { isSupportedCurrency, supportedCurrencies } from "../platform/money.ts";
import { canonicalJson } from "./signing.ts";

/** ISO 4217 code of a currency we can convert to and from minor units. */
export const currencyCode = z
  .string()
  .refine(isSupportedCurrency, { message: `must be an ISO 4217 code we support: ${supportedCurrencies.join(", ")}` });

/** A selection key as the customer sees it on the machine ("A1", "12"). */
export const selectionId = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,8}$/, "must be 1-8 characters of A-Z, a-z, 0-9, '_' or '-'");

export const product = z.strictObject({
  name: z.string().min(1).max(40).describe("Name shown on the screen and on the invoice row"),
  sku: z.string().min(1).max(32).describe("Stock keeping unit, sent as itemSKU on the invoice row"),
  priceMinor: z
    .number()
    .int()
    .positive()
    .describe("Price in integer minor units of the catalog currency (150 = 1.50 EUR)"),
  mdbItem: z
    .number()
    .int()
    .min(0)
    .max(0xfffe)
    .optional()
    .describe("MDB item number the VMC sends for this selection (MDB machines only)"),
});

/** What a machine sells: selection -> product, all in one currency. Shared by the agent, the bridge and `cmd/config`. */
export const catalog = z.strictObject({
  currency: currencyCode.describe("ISO 4217 currency of every price in this catalog"),
  products: z
    .record(selectionId, product)
    .refine((products) => Object.keys(products).length > 0, { message: "the catalog needs at least one product" })
    .describe("Selection -> product"),
});

export type Catalog = z.infer<typeof catalog>;
export type Product = z.infer<typeof product>;

export function cheapestPriceMinor(value: Catalog): number {
  return Math.min(...Object.values(value.products).map((item) => item.priceMinor));
}

/** The form of a catalog hash: 16 lower-case hex digits. */
export const catalogHashText = z.string().regex(/^[0-9a-f]{16}$/);

/**
 * A short fingerprint of a catalog (SHA-256 of its canonical JSON, first 64 bits): the agent reports the one it sells
 * with in its retained state, and the bridge compares it with the catalog it bills against, without the whole price
 * list travelling in every state message. Key order does not matter; any change of a price, name, SKU, MDB item,
 * selection or the currency does.
 */
export function catalogHash(value: Catalog): string {
  return createHash("sha256").update(canonicalJson(value)).digest("hex").slice(0, 16);
}
