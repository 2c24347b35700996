/**
 * The customer's phone number as createPurchase sends it. The bridge does not need it to sell (issue 15): it is
 * optional personal data, validated loosely. Spaces, dashes, dots, brackets and a leading `+` are dropped; whatever
 * is then not 4-20 digits is not kept at all (null), and the purchase goes ahead without it.
 */
export function normaliseMsisdn(value: unknown): string | null {
  if (typeof value !== "string" && !(typeof value === "number" && Number.isSafeInteger(value) && value >= 0)) {
    return null;
  }
  const digits = String(value)
    .trim()
    .replace(/^\+/, "")
    .replace(/[\s().-]/g, "");
  return /^[0-9]{4,20}$/.test(digits) ? digits : null;
}
