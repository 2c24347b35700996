import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dexExport } from "../../backend-bridge/operator/dex-export.ts";
import { parsePeriod } from "../../backend-bridge/operator/period.ts";
import { loadSales } from "../../backend-bridge/operator/sales.ts";
import { salesCsv } from "../../backend-bridge/operator/sales-csv.ts";
import { salesReport } from "../../backend-bridge/operator/sales-report.ts";
import { MachineRegistry } from "../../backend-bridge/registry/machine-registry.ts";
import type { Store } from "../../backend-bridge/store/store.ts";
import { Harness } from "./helpers/harness.ts";
import { parseCsv, readDex } from "./helpers/read-exports.ts";
import { formulaName, runScriptedDay } from "./helpers/scripted-day.ts";
import { storeKinds } from "./helpers/test-stores.ts";

/**
 * Done-when of the operator's console: the CSV and DEX exports match the store for a scripted day of sales. The day
 * (helpers/scripted-day.ts) runs through the real bridge; the figures are checked twice: against the script's own
 * numbers, and against the store's rows read directly (committed purchases, their vended vends less the one flagged as
 * reported after billing closed).
 */

/** What the store says was billed, read straight from its rows: per machine and currency, and per selection. */
async function storeFigures(store: Store) {
  const purchases = (await store.listPurchases({ limit: 1000 })).filter((p) => p.state === "committed");
  const perMachine = new Map<string, { purchases: number; reserved: number; billed: number; vends: number }>();
  const perSelection = new Map<string, { count: number; value: number }>();
  for (const purchase of purchases) {
    const late = new Set(
      (await store.listAudit(purchase.sessionId))
        .filter((entry) => entry.reason === "reconcile:vended-after-close")
        .map((entry) => entry.detail?.vendId),
    );
    const vends = (await store.listVends(purchase.sessionId)).filter(
      (v) => v.outcome === "vended" && !late.has(v.vendId),
    );
    const key = `${purchase.machineId} ${purchase.currency}`;
    const row = perMachine.get(key) ?? { purchases: 0, reserved: 0, billed: 0, vends: 0 };
    row.purchases += 1;
    row.reserved += purchase.amountMinor;
    row.billed += purchase.committedMinor ?? 0;
    row.vends += vends.length;
    perMachine.set(key, row);
    for (const vend of vends) {
      const selection = perSelection.get(`${purchase.machineId}/${vend.selection}`) ?? { count: 0, value: 0 };
      selection.count += 1;
      selection.value += vend.priceMinor;
      perSelection.set(`${purchase.machineId}/${vend.selection}`, selection);
    }
  }
  return { perMachine, perSelection };
}

async function csvOf(h: Harness, by: "machine" | "product" | "day", offset = 0, words = {}) {
  const period = parsePeriod(words, offset);
  return parseCsv(salesCsv(salesReport(await loadSales(h.store, period), by, offset)));
}

function registry(h: Harness) {
  return new MachineRegistry({ machines: h.config.machines, store: h.store, clock: h.clock, cacheMs: 0 });
}

describe.each(storeKinds)("operator exports of a scripted day on %s", (kind) => {
  // One day of sales per store, read by every test below (they only read).
  let h: Harness;
  beforeAll(async () => {
    h = await Harness.start(kind);
    await runScriptedDay(h);
  }, 120_000);
  afterAll(async () => {
    await h?.close();
  });

  it("the CSV per machine matches the store and the script", async () => {
    const rows = await csvOf(h, "machine");
    expect(rows).toEqual([
      ["machine", "currency", "purchases", "vends", "reserved", "billed"],
      ["M1", "EUR", "3", "4", "85.00", "55.00"],
      ["M2", "SEK", "1", "2", "30.00", "30.00"],
    ]);
    const { perMachine } = await storeFigures(h.store);
    for (const [machine, currency, purchases, vends, reserved, billed] of rows.slice(1) as string[][]) {
      const stored = perMachine.get(`${machine} ${currency}`);
      expect({ purchases: Number(purchases), vends: Number(vends), reserved, billed }).toEqual({
        purchases: stored?.purchases,
        vends: stored?.vends,
        reserved: ((stored?.reserved ?? 0) / 100).toFixed(2),
        billed: ((stored?.billed ?? 0) / 100).toFixed(2),
      });
    }
    expect(perMachine.size).toBe(2);
  });

  it("the CSV per day splits at UTC midnight, or at the offset's midnight", async () => {
    expect(await csvOf(h, "day")).toEqual([
      ["day", "currency", "purchases", "vends", "reserved", "billed"],
      ["2026-01-15", "EUR", "2", "3", "25.00", "5.00"],
      ["2026-01-15", "SEK", "1", "2", "30.00", "30.00"],
      ["2026-01-16", "EUR", "1", "1", "60.00", "50.00"],
    ]);
    // At UTC-05:00 the 01:00 UTC sandwich was sold on the evening of the 15th.
    expect((await csvOf(h, "day", -300)).slice(1)).toEqual([
      ["2026-01-15", "EUR", "3", "4", "85.00", "55.00"],
      ["2026-01-15", "SEK", "1", "2", "30.00", "30.00"],
    ]);
    // A period of one day: only that day's purchases.
    expect((await csvOf(h, "day", 0, { from: "2026-01-16", to: "2026-01-16" })).slice(1)).toEqual([
      ["2026-01-16", "EUR", "1", "1", "60.00", "50.00"],
    ]);
  });

  it("the CSV per product has the billed vends only, and a formula name stays text", async () => {
    expect(await csvOf(h, "product")).toEqual([
      ["product", "name", "currency", "purchases", "vends", "billed"],
      ["CHOC", "Chocolate", "SEK", "1", "2", "30.00"],
      ["COLA-033", "Cola", "EUR", "1", "1", "2.00"],
      ["SANDW-1", `'${formulaName}`, "EUR", "1", "1", "50.00"],
      ["WATER-05", "Still water", "EUR", "2", "2", "3.00"],
    ]);
  });

  it("the DEX audit of each machine matches the store, with a valid checksum and segment count", async () => {
    const { perSelection, perMachine } = await storeFigures(h.store);
    const dex = readDex(await dexExport(h.store, registry(h), "M1", {}, Date.UTC(2026, 0, 16, 1, 2, 3)));
    expect(dex.one("ID1")).toEqual(["M1", "SEQR-VEND", "", "Lobby", "", "M1"]);
    expect(dex.one("ID4")).toEqual(["2", "", "EUR"]);
    expect(dex.one("ID5")).toEqual(["20260116", "010203"]);
    expect(dex.one("VA1")).toEqual(["5500", "4", "5500", "4"]);
    expect(dex.one("DA2")).toEqual(["5500", "4", "5500", "4"]);
    const m1 = perMachine.get("M1 EUR");
    expect(dex.one("VA1").slice(0, 2)).toEqual([String(m1?.billed), String(m1?.vends)]);
    const pa1 = dex.all("PA1");
    const pa2 = dex.all("PA2");
    expect(pa1).toEqual([
      ["A1", "150", "WATER-05"],
      ["A2", "200", "COLA-033"],
      ["A3", "5000", "SANDW-1"],
    ]);
    expect(pa2).toEqual([
      ["2", "300", "2", "300"],
      ["1", "200", "1", "200"],
      ["1", "5000", "1", "5000"],
    ]);
    pa1.forEach(([selection], index) => {
      const stored = perSelection.get(`M1/${selection}`) ?? { count: 0, value: 0 };
      expect(pa2[index]?.slice(0, 2)).toEqual([String(stored.count), String(stored.value)]);
    });
    const m2 = readDex(await dexExport(h.store, registry(h), "M2", {}, h.clock.now()));
    expect(m2.one("ID4")).toEqual(["2", "", "SEK"]);
    expect(m2.one("VA1")).toEqual(["3000", "2", "3000", "2"]);
    expect(m2.all("PA1")).toEqual([["B1", "1500", "CHOC"]]);
  });

  it("a DEX period: since initialisation up to --to, since reset from --from", async () => {
    const second = readDex(
      await dexExport(h.store, registry(h), "M1", parsePeriod({ from: "2026-01-16" }), h.clock.now()),
    );
    expect(second.one("VA1")).toEqual(["5500", "4", "5000", "1"]);
    expect(second.all("PA2")).toEqual([
      ["2", "300", "0", "0"],
      ["1", "200", "0", "0"],
      ["1", "5000", "1", "5000"],
    ]);
    const first = readDex(
      await dexExport(h.store, registry(h), "M1", parsePeriod({ to: "2026-01-15" }), h.clock.now()),
    );
    expect(first.one("VA1")).toEqual(["500", "3", "500", "3"]);
  });
});
