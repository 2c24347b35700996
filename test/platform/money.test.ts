import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatMinor, parseDecimalToMinor } from "../../platform/money.ts";

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
});
