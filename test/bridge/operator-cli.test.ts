import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import YAML from "yaml";
import { bridgeToolCommands } from "../../backend-bridge/cli/commands.ts";
import { runCli } from "../../platform/cli.ts";
import { captureOutput } from "../cli/capture-output.ts";
import { testOnlyInsecureChoices } from "../helpers/bridge-test-config.ts";
import { runProgram } from "../helpers/run-cli.ts";
import { Harness, machineKey } from "./helpers/harness.ts";
import { parseCsv, readDex } from "./helpers/read-exports.ts";
import { runScriptedDay, type ScriptedDay } from "./helpers/scripted-day.ts";

/**
 * `vend-bridge purchases list|show` and `vend-bridge report sales|dex` over the store of a scripted day (SQLite; the
 * queries themselves run on both stores in operator-purchases and operator-exports). In-process through the CLI's
 * dispatcher, and once as the real program for what only a process shows: the exit code and no stack trace.
 */
describe("vend-bridge purchases and report", () => {
  let h: Harness;
  let day: ScriptedDay;
  let dir: string;
  let config: string;

  beforeAll(async () => {
    h = await Harness.start("sqlite");
    day = await runScriptedDay(h);
    dir = mkdtempSync(join(tmpdir(), "vend-bridge-operator-"));
    config = join(dir, "bridge.yaml");
    writeFileSync(
      config,
      YAML.stringify({
        ...testOnlyInsecureChoices(),
        http: { plainHttp: true, publicBaseUrl: "http://127.0.0.1:1/seqr" },
        seqr: { endpointUrl: "http://127.0.0.1:1/soap", terminalId: "t", password: "secret-terminal-password" },
        store: { url: h.testStore.url },
        machines: {
          M1: {
            name: "Lobby",
            commandKey: machineKey,
            catalog: { currency: "EUR", products: h.config.machines.M1?.catalog.products },
          },
          M2: { commandKey: machineKey, catalog: h.config.machines.M2?.catalog },
        },
      }),
    );
  }, 120_000);

  afterAll(async () => {
    await h?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function run(...argv: string[]) {
    const out = captureOutput();
    const code = await runCli("vend-bridge", bridgeToolCommands, [...argv, "--config", config], { out, env: {} });
    return { code, ...out };
  }

  it("purchases list --json filters like the store", async () => {
    const flagged = await run("purchases", "list", "--flagged", "--json");
    expect(flagged.code).toBe(0);
    expect((flagged.jsonValues[0] as { sessionId: string }[]).map((p) => p.sessionId)).toEqual([day.p2, day.p1]);
    const m1 = await run(
      "purchases",
      "list",
      "--machine",
      "M1",
      "--state",
      "committed",
      "--from",
      "2026-01-15",
      "--to",
      "2026-01-15",
      "--json",
    );
    expect((m1.jsonValues[0] as { sessionId: string }[]).map((p) => p.sessionId)).toEqual([day.p2, day.p1]);
    const limited = await run("purchases", "list", "--limit", "2", "--json");
    expect((limited.jsonValues[0] as unknown[]).length).toBe(2);
  });

  it("purchases list in words: one line per purchase, the flags shown", async () => {
    const { code, stdout } = await run("purchases", "list", "--machine", "M1");
    expect(code).toBe(0);
    const lines = stdout.trim().split("\n");
    expect(lines).toHaveLength(4);
    expect(lines.find((line) => line.includes(day.p2))).toMatch(
      /committed\s+reserved 5\.00 EUR\s+billed 1\.50 EUR\s+flagged: unknown-vend$/,
    );
  });

  it("purchases show: by invoice reference, --json and in words; an unknown one is exit 1", async () => {
    const json = await run("purchases", "show", day.p1, "--json");
    expect(json.code).toBe(0);
    const timeline = json.jsonValues[0] as { purchase: { invoiceReference: string }; timeline: unknown[] };
    expect(timeline.timeline.length).toBeGreaterThan(5);
    const words = await run("purchases", "show", timeline.purchase.invoiceReference);
    expect(words.code).toBe(0);
    expect(words.stdout).toContain(`purchase ${day.p1} on M1: committed`);
    expect(words.stdout).toMatch(/vend v9 A1 Still water vended 1\.50 EUR/);
    expect(words.stdout).toMatch(/reconcile:vended-after-close/);
    expect(words.stdout).toMatch(/commitReservation\s+done/);
    const missing = await run("purchases", "show", "nope");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("no purchase with session id or invoice reference 'nope'");
  });

  it("report sales --csv writes the CSV byte for byte; --json the rows", async () => {
    const csv = await run("report", "sales", "--by", "day", "--csv");
    expect(csv.code).toBe(0);
    expect(csv.stdout.endsWith("\r\n")).toBe(true);
    expect(parseCsv(csv.stdout)).toEqual([
      ["day", "currency", "purchases", "vends", "reserved", "billed"],
      ["2026-01-15", "EUR", "2", "3", "25.00", "5.00"],
      ["2026-01-15", "SEK", "1", "2", "30.00", "30.00"],
      ["2026-01-16", "EUR", "1", "1", "60.00", "50.00"],
    ]);
    const json = await run("report", "sales", "--by", "machine", "--machine", "M2", "--json");
    expect(json.jsonValues[0]).toEqual({
      by: "machine",
      from: null,
      to: null,
      utcOffsetMinutes: 0,
      rows: [
        { key: "M2", name: null, currency: "SEK", purchases: 1, vends: 2, reservedMinor: 3000, billedMinor: 3000 },
      ],
    });
    const offset = await run(
      "report",
      "sales",
      "--by",
      "day",
      "--utc-offset=-05:00",
      "--from",
      "2026-01-15",
      "--to",
      "2026-01-15",
    );
    expect(offset.stdout).toContain("2026-01-15  3 purchases  4 vends  reserved 85.00 EUR  billed 55.00 EUR");
  });

  it("report dex writes a valid EVA-DTS file", async () => {
    const { code, stdout } = await run("report", "dex", "M1", "--from", "2026-01-16");
    expect(code).toBe(0);
    const dex = readDex(stdout);
    expect(dex.one("VA1")).toEqual(["5500", "4", "5000", "1"]);
    const unknown = await run("report", "dex", "ZZ");
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("machine ZZ is not known and has no sales");
  });

  it.each([
    [["purchases"], "missing subcommand: list or show"],
    [["purchases", "remove"], "unknown subcommand 'remove'"],
    [["purchases", "list", "--state", "paid"], "'paid' is not a purchase state"],
    [["purchases", "list", "--limit", "0"], "--limit '0' must be a whole number from 1 to 10000"],
    [["purchases", "list", "--limit", "ten"], "--limit 'ten'"],
    [["purchases", "list", "--machine", "a b"], "'a b' is not a machine id"],
    [["purchases", "list", "--from", "last week"], "--from 'last week' is not a date"],
    [["purchases", "list", "extra"], "unexpected argument 'extra'"],
    [["purchases", "show"], "show needs the purchase's session id or invoice reference"],
    [["purchases", "show", "x", "--flagged"], "show takes no --flagged"],
    [["report"], "missing subcommand: sales, dex"],
    [["report", "weekly"], "unknown subcommand 'weekly'"],
    [["report", "sales", "--by", "week"], "--by 'week' is not one of machine, product, day"],
    [["report", "sales", "--csv", "--json"], "--csv and --json: choose one"],
    [["report", "sales", "--utc-offset", "CET"], "'CET' is not a UTC offset"],
    [["report", "sales", "--from", "2026-01-16", "--to", "2026-01-15"], "the period is empty"],
    [["report", "sales", "--bogus"], "unknown option --bogus"],
    [["report", "dex"], "dex needs the machine id"],
    [["report", "dex", "M1", "--json"], "--json does not apply"],
  ])("refuses %j with exit 2 and a clear message", async (argv, message) => {
    const { code, stderr, stdout } = await run(...argv);
    expect(code).toBe(2);
    expect(stderr).toContain(message);
    expect(stderr).toContain("usage: vend-bridge");
    expect(stdout).toBe("");
  });

  it("as the real program: bad input is exit 2 without a stack trace; a missing config is exit 78", async () => {
    const bad = await runProgram("backend-bridge/main.ts", ["report", "sales", "--by", "week", "--config", config]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--by 'week' is not one of machine, product, day");
    expect(bad.stderr).not.toMatch(/\n\s+at /);
    const noConfig = await runProgram("backend-bridge/main.ts", [
      "purchases",
      "list",
      "--config",
      join(dir, "none.yaml"),
    ]);
    expect(noConfig.code).toBe(78);
    expect(noConfig.stderr).not.toMatch(/\n\s+at /);
  });
});
