import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { displayAmount, formatMinor, isSupportedCurrency, parseDecimalToMinor } from "../../platform/money.ts";

describe("money: integer minor units <-> SEQR decimal strings", () => {
  it("formats with exactly the currency's decimals", () => {
    expect(formatMinor(2000, "EUR")).toBe("20.00");
    expect(formatMinor(5, "EUR")).toBe("0.05");
    expect(formatMinor(0, "SEK")).toBe("0.00");
    expect(formatMinor(150, "JPY")).toBe("150");
    expect(formatMinor(1234, "KWD")).toBe("1.234");
  });

  it("parses every spelling UPS uses (number 20.00, strings '20.0' and '20.00')", () => {
    expect(parseDecimalToMinor(20, "EUR")).toBe(2000);
    expect(parseDecimalToMinor(20.5, "EUR")).toBe(2050);
    expect(parseDecimalToMinor("20.0", "EUR")).toBe(2000);
    expect(parseDecimalToMinor("20.00", "EUR")).toBe(2000);
    expect(parseDecimalToMinor("0.1", "EUR")).toBe(10);
  });

  it("rejects what is not a plain amount, without floats sneaking in", () => {
    for (const bad of ["", "abc", "1e3", "20.001", "-1", "1,50", " ", "Infinity", "0x10"]) {
      expect(() => parseDecimalToMinor(bad, "EUR"), bad).toThrow(RangeError);
    }
    expect(() => parseDecimalToMinor(0.1 + 0.2, "EUR")).toThrow(RangeError);
    expect(() => parseDecimalToMinor(1, "XXX")).toThrow(RangeError);
    expect(() => formatMinor(1.5, "EUR")).toThrow(RangeError);
  });

  it("round-trips every amount", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10_000_000_00 }),
        fc.constantFrom("EUR", "SEK", "JPY", "KWD"),
        (minor, currency) => {
          expect(parseDecimalToMinor(formatMinor(minor, currency), currency)).toBe(minor);
        },
      ),
    );
  });

  it("formats and parses negative amounts (refunds), the latter only when allowed", () => {
    expect(formatMinor(-150, "EUR")).toBe("-1.50");
    expect(formatMinor(-5, "JPY")).toBe("-5");
    expect(displayAmount(150, "EUR")).toBe("1.50 EUR");
    expect(parseDecimalToMinor("-1.50", "EUR", { allowNegative: true })).toBe(-150);
    expect(parseDecimalToMinor("1.50", "EUR", { allowNegative: true })).toBe(150);
    expect(() => parseDecimalToMinor("-1.50", "EUR")).toThrow('negative amount "-1.50"');
  });

  it("trims spaces around a string and every trailing zero of the fraction", () => {
    expect(parseDecimalToMinor(" 20.00 ", "EUR")).toBe(2000);
    expect(parseDecimalToMinor("20.1000", "EUR")).toBe(2010);
    expect(parseDecimalToMinor("7.00", "JPY")).toBe(7);
  });

  it("says what is wrong with a refused amount", () => {
    expect(() => parseDecimalToMinor("abc", "EUR")).toThrow('"abc" is not a decimal amount');
    expect(() => parseDecimalToMinor("20.001", "EUR")).toThrow('"20.001" has more than 2 decimals for EUR');
    expect(() => parseDecimalToMinor("999999999999999", "EUR")).toThrow('amount "999999999999999" is too large');
    expect(parseDecimalToMinor("90071992547409", "EUR")).toBe(9_007_199_254_740_900);
    expect(() => parseDecimalToMinor(Number.POSITIVE_INFINITY, "EUR")).toThrow("Infinity is not a finite amount");
    expect(() => parseDecimalToMinor(Number.NaN, "EUR")).toThrow("NaN is not a finite amount");
    expect(() => parseDecimalToMinor(1e21, "EUR")).toThrow("1e+21 is not a plain decimal amount");
    expect(() => parseDecimalToMinor(1e-7, "EUR")).toThrow("1e-7 is not a plain decimal amount");
    expect(() => parseDecimalToMinor(1, "XXX")).toThrow('unsupported currency "XXX"');
    expect(() => formatMinor(1.5, "EUR")).toThrow("amount 1.5 is not an integer number of minor units");
  });

  it("knows which currencies it supports", () => {
    expect(isSupportedCurrency("EUR")).toBe(true);
    expect(isSupportedCurrency("XXX")).toBe(false);
    // Inherited Object.prototype names are no currency (a config could otherwise say currency: "toString").
    for (const inherited of ["toString", "constructor", "__proto__", "hasOwnProperty"]) {
      expect(isSupportedCurrency(inherited), inherited).toBe(false);
      expect(() => formatMinor(100, inherited), inherited).toThrow(RangeError);
    }
  });
});
