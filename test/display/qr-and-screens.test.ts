import { describe, expect, it } from "vitest";
import { createQrMatrix, placeQr, qrSvg, seqrQrPayload } from "../../agent/display/qr.ts";
import { bodyLines } from "../../agent/display/raster-screen.ts";
import { describeScreen, type ScreenContext, secondsLeft } from "../../agent/display/screens.ts";

const context: ScreenContext = {
  machine: { id: "M0042", merchantId: "acme", name: "Lobby" },
  catalog: {
    currency: "EUR",
    products: {
      A2: { name: "Cola", sku: "COLA", priceMinor: 200 },
      A1: { name: "Water", sku: "WATER", priceMinor: 150 },
      B1: { name: "Sandwich", sku: "SAND", priceMinor: 450 },
      A10: { name: "Gum", sku: "GUM", priceMinor: 100 },
    },
  },
  idleText: "Scan with the SEQR app to pay",
  now: 1_000_000,
};

describe("the SEQR QR payload", () => {
  it("is byte-exact: upper-case prefix, lower-case ups, w and t", () => {
    expect(seqrQrPayload("acme", "M0042")).toBe("HTTP://SEQR.SE/000/ups?w=acme&t=M0042");
    expect(seqrQrPayload("Shop_1.a-b", "x.Y_z-9")).toBe("HTTP://SEQR.SE/000/ups?w=Shop_1.a-b&t=x.Y_z-9");
  });

  it.each([
    ["", "M1"],
    ["acme", ""],
    ["ac me", "M1"],
    ["acme", "M1&t=evil"],
    ["acme", "M/1"],
    ["acme", "å"],
    ["a".repeat(33), "M1"],
  ])("refuses ids that would need escaping or change the URL: %j %j", (merchantId, machineId) => {
    expect(() => seqrQrPayload(merchantId, machineId)).toThrow(RangeError);
  });
});

describe("the QR matrix and its placement", () => {
  const matrix = createQrMatrix(seqrQrPayload("acme", "M0042"));

  it("uses error correction M by default, and a version that fits SEQR's print guideline (<= 4)", () => {
    expect(matrix.errorCorrection).toBe("M");
    expect(matrix.version).toBeLessThanOrEqual(4);
    expect(matrix.size).toBe(17 + 4 * matrix.version);
    // Finder pattern corners are dark, outside the symbol is light (the quiet zone).
    expect(matrix.isDark(0, 0)).toBe(true);
    expect(matrix.isDark(-1, 0)).toBe(false);
    expect(matrix.isDark(0, matrix.size)).toBe(false);
  });

  it("sizes modules to the screen: whole pixels, quiet zone 4, down to 2 when space is short", () => {
    const side = matrix.size + 8;
    expect(placeQr(matrix, side * 7 + 3)).toEqual({ moduleSize: 7, quietZone: 4, sidePx: side * 7 });
    expect(placeQr(matrix, matrix.size + 4)).toEqual({ moduleSize: 1, quietZone: 2, sidePx: matrix.size + 4 });
    expect(() => placeQr(matrix, matrix.size + 3)).toThrow(/cannot hold/);
    expect(() => placeQr(matrix, 500, 1)).toThrow(/below 2/);
  });

  it("draws an SVG with the quiet zone in its viewBox", () => {
    const svg = qrSvg(matrix);
    expect(svg).toContain(`viewBox="0 0 ${matrix.size + 8} ${matrix.size + 8}"`);
    expect(svg).toContain('shape-rendering="crispEdges"');
    // The first dark run starts inside the quiet zone's edge.
    expect(svg).toMatch(/d="M4 4h7v1h-7z/);
  });

  it("higher error correction makes a larger symbol", () => {
    expect(createQrMatrix(matrix.payload, "H").size).toBeGreaterThan(matrix.size);
  });
});

describe("the screen model", () => {
  it("idle shows the QR and the configured line", () => {
    const screen = describeScreen({ screen: "idle" }, context);
    expect(screen).toMatchObject({
      name: "idle",
      qr: { payload: "HTTP://SEQR.SE/000/ups?w=acme&t=M0042" },
      lines: ["Scan with the SEQR app to pay"],
      footer: "Lobby - M0042",
    });
  });

  it("payment-pending asks to confirm in the app and shows the amount", () => {
    const screen = describeScreen({ screen: "payment-pending", amountMinor: 2000, currency: "EUR" }, context);
    expect(screen.title).toBe("Confirm in your SEQR app");
    expect(screen.amount).toEqual({ minor: 2000, currency: "EUR", text: "20.00 EUR" });
    expect(screen.qr).toBeUndefined();
  });

  it("choose-product lists only what fits the budget left, in natural order, with the countdown", () => {
    const screen = describeScreen(
      { screen: "choose-product", budgetLeftMinor: 200, currency: "EUR", deadline: context.now + 41_001 },
      context,
    );
    expect(screen.products?.map((product) => product.selection)).toEqual(["A1", "A2", "A10"]);
    expect(screen.products?.[1]).toEqual({ selection: "A2", name: "Cola", priceMinor: 200, priceText: "2.00 EUR" });
    expect(screen.countdown).toEqual({ deadline: context.now + 41_001, secondsLeft: 42 });
    expect(screen.lines).toEqual(["Up to 2.00 EUR"]);
  });

  it("choose-product shows products over the budget left as over your budget, not as choices", () => {
    const screen = describeScreen(
      { screen: "choose-product", budgetLeftMinor: 150, currency: "EUR", deadline: context.now + 10_000 },
      context,
    );
    expect(screen.products?.map((product) => product.selection)).toEqual(["A1", "A10"]);
    expect(screen.overBudget?.map((product) => [product.selection, product.priceText])).toEqual([
      ["A2", "2.00 EUR"],
      ["B1", "4.50 EUR"],
    ]);
    // The small-screen renderers (framebuffer, terminal) say it in words too.
    expect(bodyLines(screen, context.now)).toContain("B1  Sandwich  4.50 EUR: over your budget");
    const none = describeScreen(
      { screen: "choose-product", budgetLeftMinor: 50, currency: "EUR", deadline: 0 },
      context,
    );
    expect(none.overBudget?.map((product) => product.selection)).toEqual(["A1", "A2", "A10", "B1"]);
  });

  it("choose-product leaves out unavailable selections and says when nothing fits", () => {
    const some = describeScreen(
      {
        screen: "choose-product",
        budgetLeftMinor: 500,
        currency: "EUR",
        deadline: context.now,
        unavailable: ["A1", "B1"],
      },
      context,
    );
    expect(some.products?.map((product) => product.selection)).toEqual(["A2", "A10"]);
    expect(some.countdown?.secondsLeft).toBe(0);
    const none = describeScreen(
      { screen: "choose-product", budgetLeftMinor: 50, currency: "EUR", deadline: 0 },
      context,
    );
    expect(none.products).toEqual([]);
    expect(none.lines).toEqual(["0.50 EUR left: nothing fits"]);
  });

  it("dispensing, thank-you, vend-failed (not charged) and out-of-service", () => {
    expect(describeScreen({ screen: "dispensing", selection: "A2" }, context).lines[0]).toBe("A2: Cola");
    expect(describeScreen({ screen: "thank-you", vendedTotalMinor: 350, currency: "EUR" }, context).lines[0]).toBe(
      "You paid 3.50 EUR",
    );
    expect(describeScreen({ screen: "thank-you", vendedTotalMinor: 0, currency: "EUR" }, context).lines).toEqual([
      "Nothing was charged",
    ]);
    const failed = describeScreen({ screen: "vend-failed", selection: "A2", detail: "The spiral jammed" }, context);
    expect(failed).toMatchObject({
      name: "vend-failed",
      tone: "error",
      lines: ["You have not been charged", "The spiral jammed"],
    });
    expect(describeScreen({ screen: "out-of-service", reason: "No connection" }, context)).toMatchObject({
      name: "out-of-service",
      lines: ["No connection"],
    });
  });

  it("formats amounts by the currency's exponent (0-decimal currencies too)", () => {
    const screen = describeScreen({ screen: "payment-pending", amountMinor: 500, currency: "JPY" }, context);
    expect(screen.amount?.text).toBe("500 JPY");
  });

  it("counts seconds up, never below zero", () => {
    expect(secondsLeft(10_000, 9_000)).toBe(1);
    expect(secondsLeft(10_000, 8_999)).toBe(2);
    expect(secondsLeft(10_000, 20_000)).toBe(0);
  });
});
