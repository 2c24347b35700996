/**
 * createPurchase and full-flow throughput and latency of the bridge, on each store (SQLite WAL+FULL, PostgreSQL),
 * with a fake SEQR that answers at once and a fake fleet whose machines answer at once.
 *
 *   npx tsx bench/bridge-throughput.ts [--purchases 1000] [--concurrency 16] [--no-postgres] [--only sqlite|postgres]
 *     [--scenario createPurchase|full-flow]
 *
 * createPurchase: HTTP POST -> validation -> claim (1 durable write) -> sendInvoice -> invoiced (1 durable write).
 * full flow: createPurchase, SEQR notification (HTTP) -> getPaymentStatus -> reserved -> unlock; the machine answers
 * unlocked, vended, session-ended (each stored durably) -> updateInvoice + commitReservation through the outbox.
 * Latency is per purchase, from the createPurchase request to the commit's answer.
 */
import { cpuUsage, memoryUsage } from "node:process";
import { parseArgs } from "node:util";
import Database from "better-sqlite3";
import * as hdr from "hdr-histogram-js";
import pg from "pg";
import { createBridgeApp } from "../backend-bridge/bridge-app.ts";
import type { Money } from "../backend-bridge/seqr/seqr-api.ts";
import { bridgeConfigSchema } from "../config/schema/bridge.ts";
import { systemClock } from "../platform/clock.ts";
import { silentLogger } from "../platform/logger.ts";
import { FakeFleet } from "../test/bridge/helpers/fake-fleet.ts";
import { FakeSeqr } from "../test/bridge/helpers/fake-seqr.ts";
import { createTestStore, type StoreKind } from "../test/bridge/helpers/test-stores.ts";
import { testOnlyInsecureChoices } from "../test/helpers/bridge-test-config.ts";

const { values } = parseArgs({
  options: {
    purchases: { type: "string", default: "1000" },
    concurrency: { type: "string", default: "16" },
    "no-postgres": { type: "boolean", default: false },
    only: { type: "string" },
    scenario: { type: "string" },
  },
});
const purchases = Number(values.purchases);
const concurrency = Number(values.concurrency);

/**
 * Statements sent to the database, counted by wrapping the drivers' query entry points (here only, in the benchmark):
 * on PostgreSQL each one is a network round trip (BEGIN and COMMIT included), on SQLite a call into the library.
 */
const statements = { count: 0 };
function countCalls<T extends object>(prototype: T, names: string[]): void {
  for (const name of names) {
    const original = (prototype as Record<string, (...args: unknown[]) => unknown>)[name]!;
    (prototype as Record<string, unknown>)[name] = function (this: unknown, ...args: unknown[]) {
      statements.count++;
      return original.apply(this, args);
    };
  }
}
countCalls(pg.Client.prototype, ["query"]);
{
  const probe = new Database(":memory:");
  countCalls(Object.getPrototypeOf(probe.prepare("SELECT 1")) as object, ["run", "all", "get"]);
  countCalls(Database.prototype, ["exec"]);
  probe.close();
}

/** A SEQR that also tells the benchmark when a reservation was committed. */
class SignallingSeqr extends FakeSeqr {
  readonly committed = new Map<string, () => void>();
  override async commitReservation(reference: string, amount: Money) {
    const result = await super.commitReservation(reference, amount);
    this.committed.get(reference)?.();
    return result;
  }
}

function machines(count: number) {
  const entries: Record<string, unknown> = {};
  for (let i = 0; i < count; i++) {
    entries[`M${i}`] = {
      commandKey: "ab".repeat(32),
      catalog: { currency: "EUR", products: { A1: { name: "Water", sku: "W", priceMinor: 150 } } },
    };
  }
  return entries;
}

interface Row {
  store: string;
  scenario: string;
  n: number;
  perSecond: number;
  p50: number;
  p99: number;
  p999: number;
  cpuPer1000: number;
  rssMb: number;
  statementsPerPurchase: number;
}

async function runScenario(kind: StoreKind, scenario: "createPurchase" | "full flow"): Promise<Row> {
  const testStore = await createTestStore(kind);
  const config = bridgeConfigSchema.parse({
    ...testOnlyInsecureChoices(),
    http: {
      host: "127.0.0.1",
      port: 0,
      plainHttp: true,
      publicBaseUrl: "http://127.0.0.1/seqr",
      rateLimitPerTokenPerMinute: 1_000_000,
      rateLimitPerCallerPerMinute: 1_000_000,
    },
    seqr: { endpointUrl: "http://127.0.0.1:1/soap", terminalId: "t", password: "secret" },
    machines: machines(purchases),
    log: { level: "silent" },
  });
  const seqr = new SignallingSeqr();
  const fleet = new FakeFleet();
  for (let i = 0; i < purchases; i++) fleet.online.add(`M${i}`);
  const app = createBridgeApp({
    config,
    store: testStore.store,
    seqr,
    fleet,
    clock: systemClock,
    logger: silentLogger(),
    defaultMetrics: false,
    outbox: { pollIntervalMs: 200, backoff: { baseMs: 100, maxMs: 1_000 } },
  });
  await app.start();
  // The machine answers the unlock at once: unlocked, one vend, end of session.
  fleet.onCommand = (command) => {
    if (command.name !== "unlock") return;
    const sessionId = command.body.sessionId as string;
    const machineId = command.machineId;
    setImmediate(async () => {
      await fleet.emit(machineId, "unlocked", {
        sessionId,
        commandId: command.commandId,
        budgetMinor: 2000,
        currency: "EUR",
      });
      await fleet.emit(machineId, "vended", {
        sessionId,
        vendId: "v1",
        selection: "A1",
        sku: "W",
        name: "Water",
        priceMinor: 150,
        currency: "EUR",
        evidence: "vend-success",
      });
      await fleet.emit(machineId, "session-ended", {
        sessionId,
        reason: "single-vend-done",
        vendedCount: 1,
        vendedTotalMinor: 150,
        unknownCount: 0,
        currency: "EUR",
      });
    });
  };
  const base = `${app.http.url}/seqr`;
  const histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000,
    numberOfSignificantValueDigits: 3,
  });
  let next = 0;
  const cpuStart = cpuUsage();
  const statementsStart = statements.count;
  // The benchmark's own lookup of the notification secret (one SELECT) is not the bridge's work.
  let ownStatements = 0;
  const started = performance.now();
  async function one(i: number): Promise<void> {
    const t0 = performance.now();
    const response = await fetch(`${base}/createPurchase`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token: `M${i}`, amount: 20, currency: "EUR", msisdn: "46700000001" }),
    });
    const body = (await response.json()) as { invoiceReferenceId?: string; errorCode?: string };
    if (!body.invoiceReferenceId) throw new Error(`createPurchase M${i}: ${JSON.stringify(body)}`);
    if (scenario === "full flow") {
      const reference = body.invoiceReferenceId;
      const committed = new Promise<void>((resolve) => seqr.committed.set(reference, resolve));
      seqr.confirm(reference);
      const purchase = (await testStore.store.listPurchases({ machineId: `M${i}`, limit: 1 }))[0]!;
      ownStatements += 1;
      const notified = await fetch(`${base}/notify/${purchase.notifySecret}`, { method: "POST" });
      await notified.arrayBuffer();
      await committed;
    }
    histogram.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1_000)));
  }
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < purchases; i = next++) await one(i);
    }),
  );
  const seconds = (performance.now() - started) / 1_000;
  // Let the outbox finish its last rows, so that every purchase's statements are counted.
  await app.outbox.runDue();
  const statementsUsed = statements.count - statementsStart - ownStatements;
  const cpu = cpuUsage(cpuStart);
  const rssMb = memoryUsage().rss / 1_048_576;
  if (scenario === "full flow") {
    const committed = seqr.count("commitReservation");
    if (committed !== purchases) throw new Error(`expected ${purchases} commits, saw ${committed}`);
  }
  await app.stop();
  await testStore.cleanup();
  const row: Row = {
    store: kind,
    scenario,
    n: purchases,
    perSecond: purchases / seconds,
    p50: histogram.getValueAtPercentile(50) / 1_000,
    p99: histogram.getValueAtPercentile(99) / 1_000,
    p999: histogram.getValueAtPercentile(99.9) / 1_000,
    cpuPer1000: ((cpu.user + cpu.system) / 1e6 / purchases) * 1_000,
    rssMb,
    statementsPerPurchase: statementsUsed / purchases,
  };
  histogram.destroy();
  return row;
}

const kinds: StoreKind[] =
  values.only === "sqlite" || values.only === "postgres"
    ? [values.only]
    : values["no-postgres"]
      ? ["sqlite"]
      : ["sqlite", "postgres"];
const scenarios = (["createPurchase", "full flow"] as const).filter(
  (scenario) => values.scenario === undefined || scenario.replace(" ", "-") === values.scenario,
);
const rows: Row[] = [];
for (const kind of kinds) {
  for (const scenario of scenarios) {
    await runScenario(kind, scenario); // warm-up pass (JIT, connections, page cache)
    rows.push(await runScenario(kind, scenario));
  }
}
console.log(
  `\nbridge throughput: ${purchases} purchases per run, ${concurrency} concurrent callers, fake instant SEQR and machines\n`,
);
console.log(
  "| store    | scenario       | purchases/s | p50 ms | p99 ms | p99.9 ms | CPU-s / 1000 | RSS MB | statements / purchase |",
);
console.log(
  "|----------|----------------|-------------|--------|--------|----------|--------------|--------|-----------------------|",
);
for (const row of rows) {
  console.log(
    `| ${row.store.padEnd(8)} | ${row.scenario.padEnd(14)} | ${row.perSecond.toFixed(0).padStart(11)} | ${row.p50.toFixed(2).padStart(6)} | ${row.p99.toFixed(2).padStart(6)} | ${row.p999.toFixed(2).padStart(8)} | ${row.cpuPer1000.toFixed(2).padStart(12)} | ${row.rssMb.toFixed(0).padStart(6)} | ${row.statementsPerPurchase.toFixed(1).padStart(21)} |`,
  );
}
process.exit(0);
