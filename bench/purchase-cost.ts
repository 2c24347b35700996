/**
 * What a purchase costs the bridge, measured from outside against a floor (issue 20).
 *
 *   npx tsx bench/purchase-cost.ts [--store sqlite|postgres|both] [--quick] [--rate 50] [--purchases 400]
 *     [--purchases-64 2000] [--warmup 200] [--repetitions 3] [--sync-count 20]
 *
 * Processes: the compiled bridge (`node dist/backend-bridge/main.js run`, embedded MQTT broker, its store in a temp
 * SQLite file or a PostgreSQL schema of its own, dropped afterwards); a fake SEQR answering at once (bench/fake-seqr.ts);
 * the floor (bench/floor-process.ts: the same hops done bare, with 6 durable writes); and this one, the load
 * generator, holding the machines as real MQTT clients logged in to both brokers with their own credentials
 * (bench/purchase-machines.ts). One purchase: createPurchase -> the customer confirms at the fake SEQR -> the
 * notification (t0) -> unlock at the machine (t1) -> unlocked, vended, session-ended -> commitReservation at the fake
 * SEQR (t2). Printed: notification -> unlock (t1 - t0) and the whole purchase (createPurchase -> t2) at concurrency 1,
 * at 64 (closed loop), and open loop at --rate per second when given; each run ours then the floor's, A B A B A B,
 * after a warm-up of both: medians of the repetitions with their spread (min-max), ratios ours/floor, purchases/s,
 * CPU-milliseconds per purchase of the bridge process and of the floor process (/proc/<pid>/stat), the load average
 * at start and end. Durable commits, syncs and statements per purchase from the bridge's /metrics over the measured
 * runs, and, over one unmeasured run of --sync-count purchases each, the fsync/fdatasync calls of the bridge and of
 * the floor (strace) and, on PostgreSQL, the cluster's WAL flushes (pg_stat_wal).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import pg from "pg";
import YAML from "yaml";
import { hashMachineSecret } from "../backend-bridge/broker/machine-secret.ts";
import { openStore } from "../backend-bridge/store/open-store.ts";
import { freePort } from "../platform/free-port.ts";
import { postgresUrl } from "../test/helpers/system-tools.ts";
import { countSyncCalls, difference, settledCounters, straceInstalled, walCounters } from "./durable-counters.ts";
import { benchRoot, cpuSecondsOf, makeMachines, spawnBenchChild, waitUntil } from "./fleet-sim.ts";
import type { FloorOptions } from "./floor-process.ts";
import { closedLoop, MachinePool, openLoop, PurchaseDriver, type RunResult, type Target } from "./purchase-load.ts";
import { PurchaseMachines, vendedProduct } from "./purchase-machines.ts";

const { values } = parseArgs({
  options: {
    store: { type: "string", default: "both" },
    quick: { type: "boolean", default: false },
    rate: { type: "string" },
    purchases: { type: "string" },
    "purchases-64": { type: "string" },
    warmup: { type: "string" },
    repetitions: { type: "string", default: "3" },
    "sync-count": { type: "string", default: "20" },
  },
});
const quick = values.quick;
const settings = {
  purchases1: Number(values.purchases ?? (quick ? 40 : 400)),
  purchases64: Number(values["purchases-64"] ?? (quick ? 256 : 2_000)),
  warmup: Number(values.warmup ?? (quick ? 64 : 300)),
  repetitions: Number(values.repetitions),
  rate: values.rate === undefined ? undefined : Number(values.rate),
  syncCount: Number(values["sync-count"]),
};
const stores = (values.store === "both" ? ["sqlite", "postgres"] : [values.store]) as ("sqlite" | "postgres")[];
const rootTopic = "vending/v1";
const bridgeUser = { username: "vend-bridge", password: randomBytes(16).toString("hex") };
const { selection, name, sku, priceMinor } = vendedProduct;
const catalog = { currency: "EUR", products: { [selection]: { name, sku, priceMinor } } };

interface Mode {
  name: string;
  run(target: Target): Promise<RunResult>;
  purchases: number;
}

interface RunFigures {
  notifyP50: number;
  notifyP99: number;
  wholeP50: number;
  wholeP99: number;
  perSecond: number;
  cpuMsPerPurchase: number;
  refused: number;
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(0, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.min(rank, sorted.length - 1)]!;
}

function figuresOf(result: RunResult, cpuSeconds: number): RunFigures {
  const notify = result.times.map((t) => t.notifyToUnlock);
  const whole = result.times.map((t) => t.whole);
  return {
    notifyP50: percentile(notify, 50),
    notifyP99: percentile(notify, 99),
    wholeP50: percentile(whole, 50),
    wholeP99: percentile(whole, 99),
    perSecond: result.times.length / result.seconds,
    cpuMsPerPurchase: (cpuSeconds * 1_000) / Math.max(1, result.times.length),
    refused: result.refused,
  };
}

/** Median and spread of one figure over the repetitions. */
function spread(runs: RunFigures[], key: keyof RunFigures): { median: number; min: number; max: number } {
  const values = runs.map((run) => run[key]);
  return { median: percentile(values, 50), min: Math.min(...values), max: Math.max(...values) };
}

const loadAverage = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");

async function startBridge(dir: string, storeUrl: string, machines: { id: string; password: string }[]) {
  {
    const { store } = await openStore(storeUrl);
    for (const machine of machines) {
      const entry = {
        catalog,
        commandKey: randomBytes(32).toString("hex"),
        mqttPasswordHash: hashMachineSecret(machine.password),
      };
      await store.putMachine(machine.id, JSON.stringify(entry), Date.now());
    }
    await store.close();
  }
  const [httpPort, adminPort, mqttPort] = [await freePort(), await freePort(), await freePort()];
  const configFile = join(dir, "bridge.yaml");
  writeFileSync(
    configFile,
    YAML.stringify({
      http: {
        host: "127.0.0.1",
        port: httpPort,
        plainHttp: true,
        publicBaseUrl: `http://127.0.0.1:${httpPort}/seqr`,
        rateLimitPerTokenPerMinute: 1_000_000,
        rateLimitPerCallerPerMinute: 1_000_000,
        maxRequestsPerSocket: 100_000,
        keepAliveTimeoutMs: 60_000,
      },
      seqr: { endpointUrl: `${seqrUrl}/soap`, terminalId: "public_test_shop_terminal", password: "12345678" },
      broker: { mode: "embedded", tcp: { enabled: true, host: "127.0.0.1", port: mqttPort }, tls: { enabled: false } },
      bridgeMqtt: { ...bridgeUser, rootTopic },
      callerAuth: { mode: "none" },
      store: { url: storeUrl },
      log: { level: "error" },
    }),
  );
  const bridge = spawn(
    process.execPath,
    [
      // For a profile: BENCH_BRIDGE_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof".
      ...(process.env.BENCH_BRIDGE_NODE_ARGS?.split(" ").filter(Boolean) ?? []),
      join(benchRoot, "dist/backend-bridge/main.js"),
      "run",
      "--config",
      configFile,
    ],
    {
      cwd: benchRoot,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        VEND_BRIDGE_ADMIN__PORT: String(adminPort),
        NO_COLOR: "1",
      },
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  // Its log lines (errors only) are kept for when something fails.
  let log = "";
  bridge.stdout?.on("data", (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-20_000);
  });
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const online = async () => {
    try {
      return ((await (await fetch(`${adminUrl}/healthz`)).json()) as { machinesOnline: number }).machinesOnline;
    } catch {
      return -1;
    }
  };
  await waitUntil("the bridge", async () => (await online()) >= 0, 60_000);
  return {
    process: bridge,
    adminUrl,
    online,
    log: () => log,
    target: { createPurchaseUrl: `http://127.0.0.1:${httpPort}/seqr/createPurchase` },
    mqttUrl: `mqtt://127.0.0.1:${mqttPort}`,
  };
}

async function startFloor(options: Omit<FloorOptions, "httpPort" | "mqttPort">) {
  const [httpPort, mqttPort] = [await freePort(), await freePort()];
  const floor = spawnBenchChild(join(benchRoot, "bench/floor-process.ts"), [
    JSON.stringify({ ...options, httpPort, mqttPort }),
  ]);
  await floor.next();
  return {
    ...floor,
    target: { createPurchaseUrl: `http://127.0.0.1:${httpPort}/createPurchase` },
    mqttUrl: `mqtt://127.0.0.1:${mqttPort}`,
  };
}

interface StoreReport {
  store: string;
  loadStart: string;
  loadEnd: string;
  modes: { name: string; ours: RunFigures[]; floor: RunFigures[] }[];
  perPurchase: Record<string, number>;
  floorWritesPerPurchase: number;
  syncCalls: { ours: number; floor: number; oursDriver: number } | undefined;
  wal: { ours: { walSync: number; walRecords: number }; floor: { walSync: number; walRecords: number } } | undefined;
}

async function runStore(kind: "sqlite" | "postgres"): Promise<StoreReport> {
  const dir = mkdtempSync(join(tmpdir(), "purchase-cost-"));
  const schema = `bench_${randomBytes(6).toString("hex")}`;
  const storeUrl =
    kind === "sqlite"
      ? `sqlite:${join(dir, "bridge.db")}`
      : `${postgresUrl}${postgresUrl.includes("?") ? "&" : "?"}schema=${schema}`;
  const machineCount = Math.max(80, Math.ceil((settings.rate ?? 0) / 2));
  const machines = makeMachines(machineCount, "P");
  const bridge = await startBridge(dir, storeUrl, machines);
  const floor = await startFloor({
    store:
      kind === "sqlite"
        ? { kind: "sqlite", file: join(dir, "floor.db") }
        : { kind: "postgres", url: postgresUrl, schema: `${schema}_floor` },
    seqrUrl,
    rootTopic,
    machines,
  });
  const fleet = new PurchaseMachines(rootTopic);
  try {
    await fleet.connect(bridge.mqttUrl, machines);
    await fleet.connect(floor.mqttUrl, machines);
    await waitUntil("every machine online at the bridge", async () => (await bridge.online()) >= machineCount, 60_000);
    const driver = new PurchaseDriver(seqrUrl, fleet);
    const pool = new MachinePool(machines);
    const sides = { ours: bridge, floor };
    const pids = { ours: bridge.process.pid, floor: floor.proc.pid };

    // Warm-up of both (JIT, connections, page cache), at a few concurrencies.
    for (const side of [sides.ours, sides.floor]) {
      await closedLoop(driver, side.target, pool, Math.ceil(settings.warmup / 2), 1);
      await closedLoop(driver, side.target, pool, settings.warmup, 16);
    }

    const modes: Mode[] = [
      {
        name: "closed loop, 1 caller",
        purchases: settings.purchases1,
        run: (target) => closedLoop(driver, target, pool, settings.purchases1, 1),
      },
      {
        name: "closed loop, 64 callers",
        purchases: settings.purchases64,
        run: (target) => closedLoop(driver, target, pool, settings.purchases64, 64),
      },
    ];
    if (settings.rate !== undefined) {
      const rate = settings.rate;
      const count = Math.round(rate * (quick ? 4 : 15));
      modes.push({
        name: `open loop, ${rate}/s`,
        purchases: count,
        run: (target) => openLoop(driver, target, pool, count, rate),
      });
    }

    const loadStart = loadAverage();
    const report: StoreReport = {
      store: kind,
      loadStart,
      loadEnd: "",
      modes: [],
      perPurchase: {},
      floorWritesPerPurchase: Number.NaN,
      syncCalls: undefined,
      wal: undefined,
    };
    const counted = { durableCommits: 0, deferredCommits: 0, syncs: 0, statements: 0, purchases: 0 };
    let floorWrites = 0;
    let floorPurchases = 0;
    for (const mode of modes) {
      const row = { name: mode.name, ours: [] as RunFigures[], floor: [] as RunFigures[] };
      for (let repetition = 0; repetition < settings.repetitions; repetition++) {
        for (const side of ["ours", "floor"] as const) {
          const before = side === "ours" ? await settledCounters(bridge.adminUrl) : undefined;
          const writesBefore = side === "floor" ? Number((await floor.ask({ kind: "writes" })).writes) : 0;
          const cpuBefore = cpuSecondsOf(pids[side]);
          const result = await mode.run(sides[side].target);
          const cpu = cpuSecondsOf(pids[side]) - cpuBefore;
          row[side].push(figuresOf(result, cpu));
          if (before) {
            const used = difference(await settledCounters(bridge.adminUrl), before);
            for (const key of Object.keys(used) as (keyof typeof used)[]) counted[key] += used[key];
            counted.purchases += result.times.length;
          } else {
            await new Promise((wake) => setTimeout(wake, 150));
            floorWrites += Number((await floor.ask({ kind: "writes" })).writes) - writesBefore;
            floorPurchases += result.times.length;
          }
        }
      }
      report.modes.push(row);
    }
    report.loadEnd = loadAverage();
    for (const key of ["durableCommits", "deferredCommits", "syncs", "statements"] as const) {
      report.perPurchase[key] = counted[key] / counted.purchases;
    }
    report.floorWritesPerPurchase = floorWrites / floorPurchases;

    // Unmeasured: the system calls and WAL flushes of a few purchases one at a time, on each side.
    const syncOf = async (side: "ours" | "floor") => {
      const strace = straceInstalled ? await countSyncCalls(pids[side]!) : undefined;
      const walBefore = kind === "postgres" ? await walCounters(postgresUrl) : undefined;
      const countersBefore = side === "ours" ? await settledCounters(bridge.adminUrl) : undefined;
      const result = await closedLoop(driver, sides[side].target, pool, settings.syncCount, 1);
      await new Promise((wake) => setTimeout(wake, 300));
      const walAfter = kind === "postgres" ? await walCounters(postgresUrl) : undefined;
      const calls = strace ? await strace.stop() : Number.NaN;
      const n = result.times.length;
      const driverSyncs = countersBefore
        ? difference(await settledCounters(bridge.adminUrl), countersBefore).syncs / n
        : Number.NaN;
      return {
        calls: calls / n,
        driverSyncs,
        wal:
          walBefore && walAfter
            ? {
                walSync: (walAfter.walSync - walBefore.walSync) / n,
                walRecords: (walAfter.walRecords - walBefore.walRecords) / n,
              }
            : undefined,
      };
    };
    const oursSync = await syncOf("ours");
    const floorSync = await syncOf("floor");
    if (straceInstalled)
      report.syncCalls = { ours: oursSync.calls, floor: floorSync.calls, oursDriver: oursSync.driverSyncs };
    if (oursSync.wal && floorSync.wal) report.wal = { ours: oursSync.wal, floor: floorSync.wal };
    return report;
  } catch (error) {
    console.error(`bridge log (last lines):\n${bridge.log()}`);
    throw error;
  } finally {
    await fleet.stop();
    await floor.ask({ kind: "stop" }).catch(() => undefined);
    const exited = new Promise((done) => bridge.process.once("exit", done));
    bridge.process.kill("SIGTERM");
    await exited;
    if (kind === "postgres") {
      const client = new pg.Client({ connectionString: postgresUrl });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.query(`DROP SCHEMA IF EXISTS ${schema}_floor CASCADE`);
      await client.end();
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------------

const fmt = (value: number, digits = 2) => (Number.isFinite(value) ? value.toFixed(digits) : "-");
const cell = (runs: RunFigures[], key: keyof RunFigures, digits = 2) => {
  const { median, min, max } = spread(runs, key);
  return `${fmt(median, digits)} (${fmt(min, digits)}-${fmt(max, digits)})`;
};
const ratio = (ours: RunFigures[], floor: RunFigures[], key: keyof RunFigures) =>
  `${fmt(spread(ours, key).median / spread(floor, key).median, 1)}x`;

function print(report: StoreReport): void {
  console.log(`\n### ${report.store}: load average ${report.loadStart} at start, ${report.loadEnd} at end\n`);
  console.log(
    "| run | side | notify -> unlock p50 / p99 (ms) | whole purchase p50 / p99 (ms) | purchases/s | CPU ms / purchase | refused |",
  );
  console.log("|---|---|---|---|---|---|---|");
  for (const mode of report.modes) {
    for (const side of ["ours", "floor"] as const) {
      const runs = mode[side];
      console.log(
        `| ${mode.name} | ${side} | ${cell(runs, "notifyP50")} / ${cell(runs, "notifyP99")} | ${cell(runs, "wholeP50")} / ${cell(runs, "wholeP99")} | ${cell(runs, "perSecond", 0)} | ${cell(runs, "cpuMsPerPurchase", 1)} | ${runs.reduce((sum, run) => sum + run.refused, 0)} |`,
      );
    }
    const { ours, floor } = mode;
    console.log(
      `| ${mode.name} | ours/floor | ${ratio(ours, floor, "notifyP50")} / ${ratio(ours, floor, "notifyP99")} | ${ratio(ours, floor, "wholeP50")} / ${ratio(ours, floor, "wholeP99")} | ${fmt(spread(ours, "perSecond").median / spread(floor, "perSecond").median, 2)} | ${ratio(ours, floor, "cpuMsPerPurchase")} | |`,
    );
  }
  const per = report.perPurchase;
  console.log(
    `\nper purchase (bridge /metrics over the measured runs): durable commits ${fmt(per.durableCommits!)}, deferred commits ${fmt(per.deferredCommits!)}, WAL fsyncs (SQLite driver) ${fmt(per.syncs!)}, statements ${fmt(per.statements!)}; floor durable writes ${fmt(report.floorWritesPerPurchase)}`,
  );
  console.log(
    report.syncCalls
      ? `fsync+fdatasync system calls per purchase (strace -f, ${settings.syncCount} purchases one at a time): bridge ${fmt(report.syncCalls.ours)} (its store driver counted ${fmt(report.syncCalls.oursDriver)} WAL fsyncs meanwhile), floor ${fmt(report.syncCalls.floor)}${report.store === "postgres" ? " (PostgreSQL flushes in its own processes, not these)" : ""}`
      : "fsync system calls: strace is not installed (scripts/install-system-deps.sh installs it)",
  );
  if (report.wal) {
    console.log(
      `pg_stat_wal per purchase (cluster-wide: other databases' work counts too): bridge wal_sync ${fmt(report.wal.ours.walSync)}, wal_records ${fmt(report.wal.ours.walRecords, 1)}; floor wal_sync ${fmt(report.wal.floor.walSync)}, wal_records ${fmt(report.wal.floor.walRecords, 1)}`,
    );
  }
}

const seqrChild: ChildProcess = spawn(process.execPath, ["--import", "tsx", join(benchRoot, "bench/fake-seqr.ts")], {
  cwd: benchRoot,
  stdio: ["pipe", "pipe", "inherit"],
});
const seqrUrl = await new Promise<string>((resolve) =>
  seqrChild.stdout?.once("data", (chunk: Buffer) => resolve((JSON.parse(chunk.toString()) as { url: string }).url)),
);
console.log(
  `purchase cost: ${settings.repetitions} repetitions of each run, ours then the floor's; ${settings.purchases1} purchases at 1 caller, ${settings.purchases64} at 64${settings.rate === undefined ? "" : `, open loop at ${settings.rate}/s`}; warm-up ${settings.warmup}; ${new Date().toISOString()}`,
);
try {
  for (const kind of stores) print(await runStore(kind));
} finally {
  seqrChild.stdin?.end();
}
process.exit(0);
