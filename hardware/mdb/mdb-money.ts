import { currencyExponent } from "../../platform/money.ts";

/**
 * Money between our integer minor units and the MDB bus. On the bus a value is `raw x scaleFactor x 10^-decimals`
 * (hardware-reference §1.5). The adapter line carries the value as a decimal string with the configured decimal
 * places (`1.50`), i.e. `raw x scaleFactor` "VMC units" with a decimal point; with the usual EUR/USD setting
 * (scale factor 1, 2 decimals) that is minor units / 100. Funds are rounded DOWN to a representable value (never
 * offer more than was reserved); an approval amount must be exact or it is refused.
 */
export class MdbMoney {
  readonly scaleFactor: number;
  readonly decimalPlaces: number;
  readonly currency: string;
  readonly #exponent: number;

  constructor(settings: { scaleFactor: number; decimalPlaces: number; currency: string }) {
    this.scaleFactor = settings.scaleFactor;
    this.decimalPlaces = settings.decimalPlaces;
    this.currency = settings.currency;
    this.#exponent = currencyExponent(settings.currency);
  }

  /** Minor units -> raw MDB value; `floor` for funds, `exact` (undefined when not representable) for approvals. */
  toRaw(minor: number, mode: "floor" | "exact"): number | undefined {
    if (!Number.isSafeInteger(minor) || minor < 0) return undefined;
    // raw = minor x 10^decimals / (scaleFactor x 10^exponent), in integers.
    const numerator = minor * 10 ** this.decimalPlaces;
    const denominator = this.scaleFactor * 10 ** this.#exponent;
    if (mode === "exact" && numerator % denominator !== 0) return undefined;
    return Math.floor(numerator / denominator);
  }

  /** Raw MDB value -> minor units; undefined when the currency cannot express it (more decimals than it has). */
  toMinor(raw: number): number | undefined {
    const numerator = raw * this.scaleFactor * 10 ** this.#exponent;
    const denominator = 10 ** this.decimalPlaces;
    if (numerator % denominator !== 0) return undefined;
    const minor = numerator / denominator;
    return Number.isSafeInteger(minor) ? minor : undefined;
  }

  /** Raw value -> the adapter's decimal text. */
  toWire(raw: number): string {
    const units = String(raw * this.scaleFactor).padStart(this.decimalPlaces + 1, "0");
    if (this.decimalPlaces === 0) return units;
    return `${units.slice(0, -this.decimalPlaces)}.${units.slice(-this.decimalPlaces)}`;
  }

  /** The adapter's decimal text -> raw value; undefined for anything malformed or not a multiple of the scale factor. */
  fromWire(text: string): number | undefined {
    const match = /^(\d{1,9})(?:\.(\d{1,3}))?$/.exec(text);
    if (!match) return undefined;
    const [, whole = "", fraction = ""] = match;
    const trimmed = fraction.replace(/0+$/, "");
    if (trimmed.length > this.decimalPlaces) return undefined;
    const units = Number(whole) * 10 ** this.decimalPlaces + Number(trimmed.padEnd(this.decimalPlaces, "0") || "0");
    if (units % this.scaleFactor !== 0) return undefined;
    return units / this.scaleFactor;
  }

  minorToWire(minor: number, mode: "floor" | "exact"): string | undefined {
    const raw = this.toRaw(minor, mode);
    return raw === undefined ? undefined : this.toWire(raw);
  }

  wireToMinor(text: string): number | undefined {
    const raw = this.fromWire(text);
    return raw === undefined ? undefined : this.toMinor(raw);
  }
}
