/**
 * Reconnect storm and bad-login flood against the real bridge (issue 17).
 *
 *   npx tsx bench/reconnect-storm.ts [--machines 1000,5000,10000] [--broker embedded,mosquitto] [--processes 3]
 *     [--flood 10000] [--rate 5]
 *
 * Storm: N machines, each a real MQTT client with its own credentials, spread over --processes child processes, are
 * all released at once the moment a freshly started `vend-bridge run` (compiled dist/, SQLite store, every machine
 * added to the store with its own secret) listens. A client whose CONNECT fails retries like the agent does (full
 * jitter, 1 s floor, 30 s cap: agent/mqtt/link.ts reconnectDelayMs). While they come in, the SEQR sandbox's UPS caller
 * sends createPurchase at --rate per second for machines of the storm (an offline one is answered without an
 * invoice; both are timed; 5 per second is a purchase per machine every half hour at 10,000 machines, and each open
 * invoice is polled at SEQR until it ends, so a higher rate measures the polling more than the storm). Printed: time until every client has its CONNACK and until the bridge counts every
 * machine online, createPurchase p50/p99 during the storm and in the quiet after it, and the broker's RSS per
 * connection (embedded: the bridge process; mosquitto: the Mosquitto process, whose password file and pattern ACL are
 * generated from the same `$7$` hashes the store keeps).
 *
 * Flood (embedded broker, after the storm of the largest N): --flood CONNECTs with wrong passwords for real machine ids,
 * all at once, while 100 real machines log in again one after the other and createPurchase goes on. Printed: the real
 * logins' and createPurchase's p99 unloaded and under the flood, as ratios.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import mqtt, { type MqttClient } from "mqtt";
import YAML from "yaml";
import { hashMachineSecret } from "../backend-bridge/broker/machine-secret.ts";
import { startSeqrSandbox } from "../backend-bridge/sandbox/seqr-sandbox.ts";
import { openStore } from "../backend-bridge/store/open-store.ts";
import { freePort } from "../platform/free-port.ts";
import {
  connectUntilAccepted,
  Fleet,
  type Machine,
  machineTally,
  makeMachines,
  benchRoot as root,
  rssOf,
  serveOrders,
  stopMachines,
  waitUntil,
} from "./fleet-sim.ts";
import { startPrivateMosquitto } from "./private-mosquitto.ts";

const rootTopic = "vending/v1";
const catalog = { currency: "EUR", products: { A1: { name: "Water", sku: "W-05", priceMinor: 150 } } };
const bridgeUser = { username: "vend-bridge", password: randomBytes(16).toString("hex") };

// ---------------------------------------------------------------------------------------------------------------
// Child: a share of the fleet. JSON lines on stdio: {machines, url, mode} in, {connectedAt[]} / {logins[]} out.
// ---------------------------------------------------------------------------------------------------------------

type ChildOrder =
  | { kind: "storm"; url: string; machines: Machine[] }
  | { kind: "flood"; url: string; machines: Machine[] }
  | { kind: "logins"; url: string; machines: Machine[] }
  | { kind: "stop" };

async function child(): Promise<void> {
  const clients: MqttClient[] = [];
  await serveOrders<ChildOrder>(async (order) => {
    if (order.kind === "stop") return stopMachines(clients);
    if (order.kind === "storm") {
      const connectedAt = await Promise.all(
        order.machines.map((m) => connectUntilAccepted(order.url, rootTopic, m, clients)),
      );
      return { connectedAt, retries: machineTally.retries, failures: Object.fromEntries(machineTally.failures) };
    }
    if (order.kind === "flood") {
      // Wrong passwords for real ids, all at once, no retry: each is one refused CONNECT.
      const refused = await Promise.all(order.machines.map((m) => connectOnce(order.url, m.id, "wrong-password")));
      return { refused: refused.filter((outcome) => outcome !== "connected").length };
    }
    // Real machines log in again, one after the other: the time from CONNECT to CONNACK of each.
    const logins: number[] = [];
    for (const m of order.machines) {
      const started = performance.now();
      const outcome = await connectOnce(order.url, m.id, m.password);
      if (outcome === "connected") logins.push(performance.now() - started);
    }
    return { logins };
  });
}

function connectOnce(url: string, id: string, password: string): Promise<"connected" | "refused"> {
  return new Promise((done) => {
    const client = mqtt.connect(url, {
      protocolVersion: 4,
      clientId: `${id}`,
      username: id,
      password,
      reconnectPeriod: 0,
      connectTimeout: 30_000,
      clean: true,
    });
    client.once("connect", () => {
      client.end(true);
      done("connected");
    });
    client.once("error", () => {
      client.end(true);
      done("refused");
    });
    client.once("close", () => done("refused"));
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Parent
// ---------------------------------------------------------------------------------------------------------------

function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

interface Scenario {
  broker: "embedded" | "mosquitto";
  count: number;
  processes: number;
  rate: number;
  flood: number;
}

async function runScenario(scenario: Scenario) {
  const dir = mkdtempSync(join(tmpdir(), "reconnect-storm-"));
  const machines = makeMachines(scenario.count);
  const hashes = machines.map((m) => hashMachineSecret(m.password));
  const storeUrl = `sqlite:${join(dir, "bridge.db")}`;
  {
    const { store } = await openStore(storeUrl);
    for (const [i, m] of machines.entries()) {
      const entry = { catalog, commandKey: randomBytes(32).toString("hex"), mqttPasswordHash: hashes[i] };
      await store.putMachine(m.id, JSON.stringify(entry), Date.now());
    }
    await store.close();
  }
  const httpPort = await freePort();
  const adminPort = await freePort();
  const mqttPort = await freePort();
  const sandbox = await startSeqrSandbox({
    port: 0,
    ups: { createPurchaseUrl: `http://127.0.0.1:${httpPort}/seqr/createPurchase` },
  });
  let mosquitto: ChildProcess | undefined;
  if (scenario.broker === "mosquitto") {
    mosquitto = await startPrivateMosquitto({
      dir,
      port: mqttPort,
      rootTopic,
      bridgeUser,
      machines: machines.map((m, i) => ({ username: m.id, passwordHash: hashes[i]! })),
      logName: "mosquitto-storm.log",
    });
  }
  const configFile = join(dir, "bridge.yaml");
  writeFileSync(
    configFile,
    YAML.stringify({
      http: { host: "127.0.0.1", port: httpPort, plainHttp: true, publicBaseUrl: `http://127.0.0.1:${httpPort}/seqr` },
      seqr: { endpointUrl: sandbox.soapUrl, terminalId: "public_test_shop_terminal", password: "12345678" },
      broker:
        scenario.broker === "embedded"
          ? { mode: "embedded", tcp: { enabled: true, host: "127.0.0.1", port: mqttPort }, tls: { enabled: false } }
          : { mode: "external", url: `mqtt://127.0.0.1:${mqttPort}` },
      bridgeMqtt: { ...bridgeUser, rootTopic },
      callerAuth: { mode: "none" },
      store: { url: storeUrl },
      log: { level: "error" },
    }),
  );
  const fleet = new Fleet(import.meta.filename, scenario.processes);
  await fleet.ready();
  const url = `mqtt://127.0.0.1:${mqttPort}`;
  const brokerPid = () => (scenario.broker === "embedded" ? bridge.pid : mosquitto?.pid);
  const bridge = spawn(
    process.execPath,
    [
      // For a profile of the bridge: BENCH_BRIDGE_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof".
      ...(process.env.BENCH_BRIDGE_NODE_ARGS?.split(" ").filter(Boolean) ?? []),
      join(root, "dist/backend-bridge/main.js"),
      "run",
      "--config",
      configFile,
    ],
    {
      cwd: root,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        VEND_BRIDGE_ADMIN__PORT: String(adminPort),
        NO_COLOR: "1",
      },
      stdio: ["ignore", "ignore", "inherit"],
    },
  );
  const online = async (): Promise<number> => {
    try {
      const body = (await (await fetch(`http://127.0.0.1:${adminPort}/healthz`)).json()) as { machinesOnline: number };
      return body.machinesOnline;
    } catch {
      return -1;
    }
  };
  // "Listening": the bridge answers /healthz, which it does once its broker link and HTTP are up.
  await waitUntil("the bridge", async () => (await online()) >= 0, 60_000);
  const rssBefore = rssOf(brokerPid());
  const listening = Date.now();

  // createPurchase during the storm, open loop at `rate` per second, for machines of the storm in turn.
  let next = 0;
  const purchaseTimes: { at: number; ms: number; invoice: boolean }[] = [];
  const inFlight = new Set<Promise<void>>();
  const scanOne = () => {
    const m = machines[next++ % machines.length]!;
    const started = performance.now();
    const at = Date.now();
    const done = sandbox.ups
      .scan({
        qr: `HTTP://SEQR.SE/000/ups?w=public_test_shop&t=${m.id}`,
        msisdn: "46700000001",
        amount: { minor: 500, currency: "EUR" },
      })
      .then((outcome) => {
        purchaseTimes.push({ at, ms: performance.now() - started, invoice: outcome.kind === "invoice" });
      })
      .catch(() => {
        purchaseTimes.push({ at, ms: performance.now() - started, invoice: false });
      })
      .finally(() => inFlight.delete(done));
    inFlight.add(done);
  };
  const load = setInterval(scanOne, scenario.rate > 0 ? 1_000 / scenario.rate : 2 ** 31 - 1);

  const storm = fleet.order("storm", machines, { url });
  let allOnlineAt = Number.NaN;
  let lastProgress = 0;
  await waitUntil(
    "every machine online at the bridge",
    async () => {
      const count = await online();
      if (process.env.BENCH_DEBUG && Date.now() - lastProgress > 5_000) {
        lastProgress = Date.now();
        console.error(`${((Date.now() - listening) / 1_000).toFixed(0)} s: ${count} online at the bridge`);
      }
      return count >= scenario.count;
    },
    300_000,
  );
  allOnlineAt = Date.now();
  const connectedAt = (await storm).flatMap((answer) => answer.connectedAt as number[]);
  const lastConnack = Math.max(...connectedAt);
  if (process.env.BENCH_DEBUG) {
    const sorted = connectedAt.map((at) => at - listening).sort((a, b) => a - b);
    console.error(
      "CONNACK deciles (ms)",
      [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1].map((q) => sorted[Math.ceil(q * sorted.length) - 1]),
    );
  }
  const stormAnswers = await storm;
  const retries = stormAnswers.reduce((sum, answer) => sum + Number(answer.retries), 0);
  if (retries > 0)
    console.error(
      `${scenario.broker} ${scenario.count}: ${retries} retries`,
      stormAnswers.map((a) => a.failures),
    );
  // The quiet after: the same load for as long, with every machine connected.
  const quietFrom = Date.now();
  await new Promise((wake) => setTimeout(wake, Math.max(5_000, Math.min(20_000, allOnlineAt - listening))));
  const rssAfter = rssOf(brokerPid());
  clearInterval(load);
  await Promise.all(inFlight);
  const during = purchaseTimes.filter((p) => p.at < allOnlineAt).map((p) => p.ms);
  const quiet = purchaseTimes.filter((p) => p.at >= quietFrom).map((p) => p.ms);
  const result = {
    ...scenario,
    connackAllS: (lastConnack - listening) / 1_000,
    onlineAllS: (allOnlineAt - listening) / 1_000,
    purchasesDuring: during.length,
    invoicesDuring: purchaseTimes.filter((p) => p.at < allOnlineAt && p.invoice).length,
    purchaseP50During: percentile(during, 50),
    purchaseP99During: percentile(during, 99),
    purchaseP99Quiet: percentile(quiet, 99),
    brokerKbPerConnection: (rssAfter - rssBefore) / scenario.count / 1_000,
    brokerRssMb: rssAfter / 1e6,
    flood: undefined as undefined | Record<string, number>,
  };

  if (scenario.flood > 0) {
    const real = machines.slice(0, 100);
    const probe = async () => {
      const started = purchaseTimes.length;
      const loadAgain = setInterval(scanOne, scenario.rate > 0 ? 1_000 / scenario.rate : 2 ** 31 - 1);
      const logins = (await fleet.order("logins", real, { url })).flatMap((answer) => answer.logins as number[]);
      // The logins may be over in a fraction of a second: keep the purchases going until there are enough for a p99.
      while (scenario.rate > 0 && purchaseTimes.length - started < 20)
        await new Promise((wake) => setTimeout(wake, 100));
      clearInterval(loadAgain);
      await Promise.all(inFlight);
      return { logins, purchases: purchaseTimes.slice(started).map((p) => p.ms) };
    };
    const unloaded = await probe();
    const victims = Array.from({ length: scenario.flood }, (_, i) => machines[i % machines.length]!);
    const flood = fleet.order("flood", victims, { url });
    const loaded = await probe();
    const refused = (await flood).reduce((sum, answer) => sum + Number(answer.refused), 0);
    result.flood = {
      badLogins: scenario.flood,
      refused,
      loginP99Unloaded: percentile(unloaded.logins, 99),
      loginP99Flood: percentile(loaded.logins, 99),
      purchaseP99Unloaded: percentile(unloaded.purchases, 99),
      purchaseP99Flood: percentile(loaded.purchases, 99),
    };
  }

  await fleet.stop();
  bridge.kill("SIGTERM");
  await new Promise((wake) => bridge.once("exit", wake));
  mosquitto?.kill("SIGTERM");
  await sandbox.close();
  rmSync(dir, { recursive: true, force: true });
  return result;
}

if (process.argv[2] === "--child") {
  await child();
} else {
  const { values } = parseArgs({
    options: {
      machines: { type: "string", default: "1000,5000,10000" },
      broker: { type: "string", default: "embedded,mosquitto" },
      processes: { type: "string", default: "3" },
      rate: { type: "string", default: "5" },
      flood: { type: "string", default: "10000" },
    },
  });
  const counts = values.machines.split(",").map(Number);
  const brokers = values.broker.split(",") as Scenario["broker"][];
  const fmt = (value: number | undefined, digits = 1) =>
    value === undefined || Number.isNaN(value) ? "-" : value.toFixed(digits);
  console.log(
    "| broker | machines | all CONNACKed (s) | all online at the bridge (s) | createPurchase during: n, p50 / p99 (ms) | p99 after (ms) | broker KB/connection | broker RSS (MB) |",
  );
  console.log("|---|---|---|---|---|---|---|---|");
  const floods: string[] = [];
  for (const broker of brokers) {
    for (const count of counts) {
      const largest = count === Math.max(...counts);
      const r = await runScenario({
        broker,
        count,
        processes: Number(values.processes),
        rate: Number(values.rate),
        flood: broker === "embedded" && largest ? Number(values.flood) : 0,
      });
      console.log(
        `| ${broker} | ${count} | ${fmt(r.connackAllS, 2)} | ${fmt(r.onlineAllS, 2)} | ${r.purchasesDuring}, ${fmt(r.purchaseP50During)} / ${fmt(r.purchaseP99During)} | ${fmt(r.purchaseP99Quiet)} | ${fmt(r.brokerKbPerConnection)} | ${fmt(r.brokerRssMb)} |`,
      );
      if (r.flood) {
        const f = r.flood;
        floods.push(
          `bad-login flood (${broker}, ${f.badLogins} wrong passwords for real ids, ${f.refused} refused): real machine login p99 ${fmt(f.loginP99Unloaded)} -> ${fmt(f.loginP99Flood)} ms (x${fmt(f.loginP99Flood! / f.loginP99Unloaded!, 2)}); createPurchase p99 ${fmt(f.purchaseP99Unloaded)} -> ${fmt(f.purchaseP99Flood)} ms (x${fmt(f.purchaseP99Flood! / f.purchaseP99Unloaded!, 2)})`,
        );
      }
    }
  }
  for (const line of floods) console.log(line);
}
