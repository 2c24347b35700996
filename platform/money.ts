/**
 * Money is integer minor units everywhere inside the code (design §4 rule 1). Decimal strings exist only at the
 * SOAP and REST edges, and are converted here with the ISO 4217 exponent of the currency, never through floats.
 */

/** ISO 4217 minor-unit exponents for the currencies a vending machine plausibly sells in. */
const exponents: Readonly<Record<string, number>> = {
  EUR: 2,
  SEK: 2,
  NOK: 2,
  DKK: 2,
  PLN: 2,
  GBP: 2,
  USD: 2,
  CHF: 2,
  CZK: 2,
  HUF: 2,
  RON: 2,
  BGN: 2,
  ISK: 0,
  JPY: 0,
  KRW: 0,
  CLP: 0,
  BHD: 3,
  KWD: 3,
  TND: 3,
};

export const supportedCurrencies = Object.keys(exponents);

export function currencyExponent(currency: string): number {
  // Own keys only: an inherited name ("toString", "constructor") is no currency.
  const exponent = Object.hasOwn(exponents, currency) ? exponents[currency] : undefined;
  if (exponent === undefined) throw new RangeError(`unsupported currency ${JSON.stringify(currency)}`);
  return exponent;
}

export function isSupportedCurrency(currency: string): boolean {
  return Object.hasOwn(exponents, currency);
}

/** Formats integer minor units as the `#.##` decimal string SEQR expects (exactly `exponent` decimals). */
export function formatMinor(minor: number, currency: string): string {
  if (!Number.isSafeInteger(minor)) throw new RangeError(`amount ${minor} is not an integer number of minor units`);
  const exponent = currencyExponent(currency);
  const negative = minor < 0;
  const digits = String(Math.abs(minor)).padStart(exponent + 1, "0");
  const whole = exponent === 0 ? digits : digits.slice(0, -exponent);
  const fraction = exponent === 0 ? "" : `.${digits.slice(-exponent)}`;
  return `${negative ? "-" : ""}${whole}${fraction}`;
}

/**
 * Parses a decimal amount ("20", "20.0", "20.00", 20.5 as a JSON number) into minor units. Rejects more decimals
 * than the currency has, exponents, signs where not allowed and anything that is not a plain decimal.
 */
export function parseDecimalToMinor(
  value: string | number,
  currency: string,
  options: { allowNegative?: boolean } = {},
): number {
  const exponent = currencyExponent(currency);
  // A JSON number reaches us as a double; its shortest round-trip string is the decimal the sender wrote.
  const text = typeof value === "number" ? numberToPlainString(value) : value.trim();
  const match = /^(-)?(\d{1,15})(?:\.(\d+))?$/.exec(text);
  if (!match) throw new RangeError(`${JSON.stringify(value)} is not a decimal amount`);
  const [, sign, whole = "", fraction = ""] = match;
  if (sign && !options.allowNegative) throw new RangeError(`negative amount ${JSON.stringify(value)}`);
  const trimmedFraction = fraction.replace(/0+$/, "");
  if (trimmedFraction.length > exponent) {
    throw new RangeError(`${JSON.stringify(value)} has more than ${exponent} decimals for ${currency}`);
  }
  const minor = Number(whole) * 10 ** exponent + Number(trimmedFraction.padEnd(exponent, "0") || "0");
  if (!Number.isSafeInteger(minor)) throw new RangeError(`amount ${JSON.stringify(value)} is too large`);
  return sign ? -minor : minor;
}

function numberToPlainString(value: number): string {
  if (!Number.isFinite(value)) throw new RangeError(`${value} is not a finite amount`);
  const text = String(value);
  if (/e/i.test(text)) throw new RangeError(`${value} is not a plain decimal amount`);
  return text;
}

/** A human label such as "1.50 EUR", for screens and logs. */
export function displayAmount(minor: number, currency: string): string {
  return `${formatMinor(minor, currency)} ${currency}`;
}
