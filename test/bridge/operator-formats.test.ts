import { describe, expect, it } from "vitest";
import { csvField, toCsv } from "../../backend-bridge/operator/csv.ts";
import { DexError, dexCounters } from "../../backend-bridge/operator/dex-counters.ts";
import { dexCrc16, formatDex } from "../../backend-bridge/operator/dex-format.ts";
import { dayOf, PeriodError, parsePeriod, parseUtcOffset } from "../../backend-bridge/operator/period.ts";
import { mergeTimeline, type TimelineEntry } from "../../backend-bridge/operator/purchases-query.ts";
import type { Sale } from "../../backend-bridge/operator/sales.ts";
import { parseCsv, readDex } from "./helpers/read-exports.ts";

describe("CSV (RFC 4180, no formula injection)", () => {
  it("quotes a field with a comma, quote, CR or LF and doubles its quotes; ends every row in CR LF", () => {
    const csv = toCsv(
      ["a", "b"],
      [
        ["x,y", 'say "hi"'],
        ["line\r\nbreak", 3],
        [null, "plain"],
      ],
    );
    expect(csv).toBe('a,b\r\n"x,y","say ""hi"""\r\n"line\r\nbreak",3\r\n,plain\r\n');
    expect(parseCsv(csv)).toEqual([
      ["a", "b"],
      ["x,y", 'say "hi"'],
      ["line\r\nbreak", "3"],
      ["", "plain"],
    ]);
  });

  it.each(["=1+2", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])("a text cell beginning %j stays text", (text) => {
    expect(parseCsv(`${csvField(text)}\r\n`)[0]?.[0]).toBe(`'${text}`);
  });

  it("leaves numbers and harmless text alone", () => {
    expect(csvField(-5)).toBe("-5");
    expect(csvField("Still water")).toBe("Still water");
    expect(csvField("a=b")).toBe("a=b");
  });

  it("quotes a prefixed formula that also needs quoting", () => {
    expect(csvField('=HYPERLINK("x")')).toBe(`"'=HYPERLINK(""x"")"`);
  });
});

describe("DEX format", () => {
  it("G85 is CRC-16/ARC: the catalogue's check value for '123456789' is BB3D", () => {
    expect(dexCrc16("123456789")).toBe("BB3D");
    expect(dexCrc16("")).toBe("0000");
  });

  const sale = (at: number, selection: string, priceMinor: number, currency = "EUR"): Sale => ({
    sessionId: `s${at}`,
    machineId: "M1",
    currency,
    at,
    reservedMinor: 2000,
    billedMinor: priceMinor,
    vends: [{ selection, sku: `SKU-${selection}`, name: selection, priceMinor }],
  });
  const catalog = {
    currency: "EUR",
    products: {
      A10: { name: "Ten", sku: "T*EN", priceMinor: 100 },
      A2: { name: "Two", sku: "TWO", priceMinor: 200 },
    },
  };

  it("a name with the separator or a line break cannot add a field or a segment", () => {
    const counters = dexCounters({
      machineId: "M1",
      machineName: "Lobby*evil\r\nVA1*999",
      catalog,
      sales: [sale(1, "A2", 200)],
      from: undefined,
    });
    const dex = readDex(formatDex(counters, Date.UTC(2026, 0, 15, 8, 9, 10)));
    expect(dex.one("ID1")).toEqual(["M1", "SEQR-VEND", "", "Lobby_evil__VA1_999", "", "M1"]);
    expect(dex.all("VA1")).toHaveLength(1);
    expect(dex.one("ID5")).toEqual(["20260115", "080910"]);
    // Selections in natural order (A2 before A10); a catalog product with no sales has zero counters.
    expect(dex.all("PA1")).toEqual([
      ["A2", "200", "TWO"],
      ["A10", "100", "T_EN"],
    ]);
    expect(dex.all("PA2")).toEqual([
      ["1", "200", "1", "200"],
      ["0", "0", "0", "0"],
    ]);
  });

  it("a selection no longer in the catalog keeps its last billed price; sales before the period count since init only", () => {
    const counters = dexCounters({
      machineId: "M1",
      machineName: null,
      catalog,
      sales: [sale(5, "Z9", 300), sale(1, "Z9", 250)],
      from: 3,
    });
    expect(counters.products.find((p) => p.selection === "Z9")).toMatchObject({
      priceMinor: 300,
      sinceInit: { count: 2, valueMinor: 550 },
      sinceReset: { count: 1, valueMinor: 300 },
    });
    expect(counters.paid).toEqual({
      sinceInit: { count: 2, valueMinor: 550 },
      sinceReset: { count: 1, valueMinor: 300 },
    });
  });

  it("refuses a machine with sales in two currencies, and an unknown machine with no sales", () => {
    expect(() =>
      dexCounters({ machineId: "M1", machineName: null, catalog, sales: [sale(1, "A2", 200, "SEK")], from: undefined }),
    ).toThrow(new DexError("machine M1 has sales in EUR and SEK; a DEX audit has one currency"));
    expect(() =>
      dexCounters({ machineId: "X", machineName: null, catalog: undefined, sales: [], from: undefined }),
    ).toThrow(DexError);
  });

  it("writes a currency without minor units with decimal point position 0", () => {
    const counters = dexCounters({
      machineId: "J1",
      machineName: null,
      catalog: { currency: "JPY", products: { A1: { name: "Tea", sku: "TEA", priceMinor: 150 } } },
      sales: [],
      from: undefined,
    });
    expect(readDex(formatDex(counters, 0)).one("ID4")).toEqual(["0", "", "JPY"]);
  });
});

describe("periods", () => {
  it("a day is the whole day in the offset's time zone; an instant is that instant", () => {
    expect(parsePeriod({ from: "2026-01-15", to: "2026-01-15" })).toEqual({
      from: Date.UTC(2026, 0, 15),
      to: Date.UTC(2026, 0, 16),
    });
    expect(parsePeriod({ from: "2026-01-15" }, 60)).toEqual({ from: Date.UTC(2026, 0, 14, 23) });
    expect(parsePeriod({ to: "2026-01-15T08:30:00+01:00" })).toEqual({ to: Date.UTC(2026, 0, 15, 7, 30) });
    expect(dayOf(Date.UTC(2026, 0, 16, 1), -300)).toBe("2026-01-15");
  });

  it.each([
    [{ from: "yesterday" }, "--from 'yesterday' is not a date"],
    [{ to: "2026-02-30" }, "'2026-02-30' is not a date in the calendar"],
    [{ from: "2026-01-15T08:00:00" }, "is not a date"],
    [{ from: "2026-01-16", to: "2026-01-15" }, "the period is empty"],
  ])("refuses %j", (words, message) => {
    expect(() => parsePeriod(words)).toThrow(PeriodError);
    expect(() => parsePeriod(words)).toThrow(message);
  });

  it("reads UTC offsets and refuses others", () => {
    expect(parseUtcOffset("+02:00")).toBe(120);
    expect(parseUtcOffset("-05:30")).toBe(-330);
    expect(parseUtcOffset("Z")).toBe(0);
    for (const bad of ["2", "+2:00", "+15:00", "+01:60", "CET"]) expect(() => parseUtcOffset(bad)).toThrow(PeriodError);
  });
});

describe("timeline", () => {
  it("merges the audit log and the vends in time order, the audit entry first at equal times", () => {
    const audit = (at: number, reason: string): TimelineEntry => ({
      at,
      kind: "audit",
      reason,
      fromState: null,
      toState: null,
      detail: null,
    });
    const vend = (at: number, vendId: string): TimelineEntry => ({
      at,
      kind: "vend",
      vendId,
      selection: "A1",
      sku: null,
      name: null,
      outcome: "vended",
      priceMinor: 150,
      reportedPriceMinor: null,
      evidence: null,
    });
    const merged = mergeTimeline([audit(1, "a"), audit(5, "b"), audit(9, "c")], [vend(0, "v0"), vend(5, "v5")]);
    expect(merged.map((entry) => (entry.kind === "audit" ? entry.reason : entry.vendId))).toEqual([
      "v0",
      "a",
      "b",
      "v5",
      "c",
    ]);
  });
});
