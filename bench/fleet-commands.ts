/**
 * Command round trip across a connected fleet, open loop (issue 17): the embedded broker against Mosquitto in the
 * same run. Target: the embedded broker's p99 within 2x of Mosquitto's at 5,000-10,000 machines and 1,000-2,000
 * commands/s.
 *
 *   npx tsx bench/fleet-commands.ts [--machines 5000] [--rate 1000] [--seconds 20] [--warmup 5] [--processes 3]
 *     [--broker embedded,mosquitto]
 *
 * For each broker: the embedded aedes (startEmbeddedBroker, in a child process of its own so that the load generator
 * does not share its event loop; machine logins checked against their `$7$` hashes), or a private Mosquitto on a free
 * port configured like docs/external-mosquitto.md (bench/private-mosquitto.ts: password file and pattern ACL from the
 * same hashes, set_tcp_nodelay true). --machines real MQTT clients with their own credentials, spread over
 * --processes child processes, connect like agents (bench/fleet-sim.ts), subscribe to their command filter and answer
 * each `ping` with a `pong` event, QoS 1: a bare echo, the machine side is not what is measured. This process is the
 * bridge: one MQTT.js client as the bridge's user (TCP_NODELAY) sends signed `ping` commands QoS 1 to machines chosen
 * at random, open loop at --rate per second: command i is due at start + i / rate and its round trip is measured
 * from that time, not from when it was sent, so a late sender counts against the broker's figure rather than hiding
 * it (no coordinated omission). --warmup seconds at the same rate are not recorded. Each pong is matched to its
 * command by id.
 *
 * Printed per broker: sent, answered, lost, duplicates, p50/p99/p99.9/max, the achieved send and answer rates, how
 * late the sender was at worst, CPU seconds over the measured window (broker, fleet processes, this one) and the
 * broker's RSS, the load average before and after; then embedded p99 / Mosquitto p99. Exits non-zero when machines do
 * not all connect within 2 minutes or more than 1 % of the commands are lost.
 * BENCH_BROKER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the embedded broker's process.
 */
import type { ChildProcess } from "node:child_process";
import { randomBytes, randomInt, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import type { Socket } from "node:net";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { PerformanceObserver } from "node:perf_hooks";
import { parseArgs } from "node:util";
import mqtt, { type MqttClient } from "mqtt";
import { type EmbeddedBroker, startEmbeddedBroker } from "../backend-bridge/broker/embedded-broker.ts";
import { InMemoryMachineCredentials } from "../backend-bridge/broker/machine-credentials.ts";
import { hashMachineSecret } from "../backend-bridge/broker/machine-secret.ts";
import type { MosquittoLogin } from "../backend-bridge/broker/mosquitto-files.ts";
import { freePort } from "../platform/free-port.ts";
import { silentLogger } from "../platform/logger.ts";
import { fleetFilters, machineTopics } from "../protocol/topics.ts";
import {
  connectUntilAccepted,
  cpuSecondsOf,
  Fleet,
  type Machine,
  machineTally,
  makeMachines,
  rssOf,
  serveOrders,
  spawnBenchChild,
  stopMachines,
} from "./fleet-sim.ts";
import { startPrivateMosquitto } from "./private-mosquitto.ts";
import { commandPayload, type Histogram, histogram } from "./round-trips.ts";

const rootTopic = "vending/v1";
const bridgeUser = { username: "vend-bridge", password: randomBytes(16).toString("hex") };
/** One key for the fleet: the echo machines do not verify, the signature is there for the payload's size and cost. */
const commandKey = randomBytes(32).toString("hex");
const connectTimeoutMs = 120_000;
const drainTimeoutMs = 10_000;
const maxLostShare = 0.01;

// ---------------------------------------------------------------------------------------------------------------
// Child processes: echo machines (--child) and the embedded broker (--broker).
// ---------------------------------------------------------------------------------------------------------------

type MachinesOrder = { kind: "connect"; url: string; machines: Machine[] } | { kind: "count" } | { kind: "stop" };

async function machinesChild(): Promise<void> {
  const clients: MqttClient[] = [];
  let pongs = 0;
  /** Answers each ping with a pong event (protocol/messages.ts pongEvent), without verifying the command. */
  const answerPings = (client: MqttClient, machineId: string) => {
    const topics = machineTopics(rootTopic, machineId);
    const ping = topics.command("ping");
    let seq = 0;
    client.on("message", (topic, payload) => {
      if (topic !== ping) return;
      const { commandId } = JSON.parse(payload.toString()) as { commandId: string };
      const pong = { eventId: randomUUID(), seq: seq++, ts: Date.now(), sessionId: null, commandId, inService: true };
      client.publish(topics.event("pong"), JSON.stringify(pong), { qos: 1 });
      pongs++;
    });
  };
  await serveOrders<MachinesOrder>(async (order) => {
    if (order.kind === "stop") return stopMachines(clients);
    if (order.kind === "count") return { pongs, lostConnections: machineTally.lost };
    const connected = await Promise.all(
      order.machines.map((m) => connectUntilAccepted(order.url, rootTopic, m, clients, (c) => answerPings(c, m.id))),
    );
    return { connected: connected.length, retries: machineTally.retries };
  });
}

/** The bridge's password is made by the parent (each process draws its own): it comes with the order. */
type BrokerOrder =
  | { kind: "start"; logins: MosquittoLogin[]; bridgeUser: { username: string; password: string } }
  | { kind: "gc" }
  | { kind: "stop" };

type GcPause = { at: number; ms: number };

async function brokerChild(): Promise<void> {
  let broker: EmbeddedBroker | undefined;
  /** Garbage collections of the broker's process (epoch ms, duration): a stop-the-world pause delays every message. */
  const pauses: GcPause[] = [];
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries())
      pauses.push({ at: performance.timeOrigin + entry.startTime, ms: entry.duration });
  }).observe({ entryTypes: ["gc"] });
  await serveOrders<BrokerOrder>(async (order) => {
    if (order.kind === "gc") return { pauses };
    if (order.kind === "stop") {
      await broker?.close();
      return { stopped: true };
    }
    const credentials = new InMemoryMachineCredentials();
    for (const login of order.logins) credentials.set(login.username, { passwordHash: login.passwordHash });
    // The bridge's defaults (config/schema/bridge.ts): drainTimeoutMs 10 s, maxTopicLevels 8.
    broker = await startEmbeddedBroker({
      rootTopic,
      credentials,
      bridgeUser: order.bridgeUser,
      tcp: { host: "127.0.0.1", port: 0 },
      drainTimeoutMs: 10_000,
      maxTopicLevels: 8,
      logger: silentLogger(),
    });
    return { port: broker.tcpPort };
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Parent: the brokers, the fleet and the bridge's commands.
// ---------------------------------------------------------------------------------------------------------------

type BrokerKind = "embedded" | "mosquitto";

interface Options {
  machines: number;
  rate: number;
  seconds: number;
  warmup: number;
  processes: number;
}

interface RunningBroker {
  url: string;
  pid: number | undefined;
  /** The embedded broker's GC pauses so far. */
  gcPauses?(): Promise<GcPause[]>;
  stop(): Promise<void>;
}

async function startBroker(kind: BrokerKind, dir: string, logins: MosquittoLogin[]): Promise<RunningBroker> {
  if (kind === "embedded") {
    const nodeArgs = process.env.BENCH_BROKER_NODE_ARGS?.split(" ").filter(Boolean) ?? [];
    const child = spawnBenchChild(import.meta.filename, ["--broker"], nodeArgs);
    await child.next();
    const { port } = await child.ask({ kind: "start", logins, bridgeUser });
    const exited = new Promise((done) => child.proc.once("exit", done));
    return {
      url: `mqtt://127.0.0.1:${port}`,
      pid: child.proc.pid,
      gcPauses: async () => (await child.ask({ kind: "gc" })).pauses as GcPause[],
      stop: async () => {
        await child.ask({ kind: "stop" });
        await exited;
      },
    };
  }
  const port = await freePort();
  const mosquitto: ChildProcess = await startPrivateMosquitto({
    dir,
    port,
    rootTopic,
    bridgeUser,
    machines: logins,
    logName: "mosquitto-fleet-commands.log",
  });
  const exited = new Promise((done) => mosquitto.once("exit", done));
  return {
    url: `mqtt://127.0.0.1:${port}`,
    pid: mosquitto.pid,
    stop: async () => {
      mosquitto.kill("SIGTERM");
      await exited;
    },
  };
}

async function connectBridge(url: string): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, {
    protocolVersion: 4,
    clientId: `vend-bridge-${randomUUID().slice(0, 8)}`,
    ...bridgeUser,
    reconnectPeriod: 0,
    clean: true,
  });
  (client.stream as Partial<Socket>).setNoDelay?.(true);
  await client.subscribeAsync(fleetFilters(rootTopic).events, { qos: 1 });
  return client;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done after ${ms / 1_000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

interface Measured {
  h: Histogram;
  sent: number;
  answered: number;
  /** Every command, warm-up included, not answered within the drain. */
  lost: number;
  totalSent: number;
  duplicates: number;
  sendRate: number;
  answerRate: number;
  /** How late the sender was at worst (ms after a command was due). */
  maxSendLagMs: number;
  /** CPU seconds over the measured window: the broker's process, the fleet's processes, this one (the bridge). */
  cpu: CpuSeconds;
  /** The measured window, epoch ms. */
  window: { from: number; to: number };
}

type CpuSeconds = { broker: number; fleet: number; bridge: number };

function cpuSeconds(brokerPid: number | undefined, fleet: Fleet): CpuSeconds {
  const { user, system } = process.cpuUsage();
  return {
    broker: cpuSecondsOf(brokerPid),
    fleet: fleet.pids.reduce<number>((sum, pid) => sum + cpuSecondsOf(pid), 0),
    bridge: (user + system) / 1e6,
  };
}

/** The bridge's open loop: command i is due at t0 + i / rate, and its round trip counts from then. */
async function drive(
  bridge: MqttClient,
  machines: Machine[],
  options: Options,
  cpuNow: () => CpuSeconds,
): Promise<Measured> {
  const h = histogram();
  const pending = new Map<string, { dueAt: number; measured: boolean }>();
  let answered = 0;
  let duplicates = 0;
  let lastAnswerAt = 0;
  bridge.on("message", (topic, payload) => {
    const at = performance.now();
    if (!topic.endsWith("/event/pong")) return;
    const { commandId } = JSON.parse(payload.toString()) as { commandId: string };
    const command = pending.get(commandId);
    if (!command) {
      duplicates++;
      return;
    }
    pending.delete(commandId);
    if (!command.measured) return;
    answered++;
    lastAnswerAt = at;
    h.recordValue(Math.max(1, Math.round((at - command.dueAt) * 1_000)));
  });
  const interval = 1_000 / options.rate;
  const warmupCount = Math.round(options.rate * options.warmup);
  const total = warmupCount + Math.round(options.rate * options.seconds);
  let maxSendLagMs = 0;
  let measuredFrom = 0;
  let windowFrom = 0;
  let cpuFrom: CpuSeconds = { broker: 0, fleet: 0, bridge: 0 };
  const send = (i: number, dueAt: number) => {
    const now = performance.now();
    if (i === warmupCount) {
      measuredFrom = now;
      windowFrom = Date.now();
      cpuFrom = cpuNow();
    }
    if (i >= warmupCount) maxSendLagMs = Math.max(maxSendLagMs, now - dueAt);
    const machineId = machines[randomInt(machines.length)]!.id;
    const payload = commandPayload({}, { key: commandKey, machineId, name: "ping" });
    pending.set(payload.commandId, { dueAt, measured: i >= warmupCount });
    bridge.publish(machineTopics(rootTopic, machineId).command("ping"), JSON.stringify(payload), { qos: 1 });
  };
  const t0 = performance.now() + 50;
  let sentAt = 0;
  await new Promise<void>((done) => {
    let i = 0;
    const tick = () => {
      const now = performance.now();
      for (; i < total && t0 + i * interval <= now; i++) send(i, t0 + i * interval);
      if (i >= total) {
        sentAt = performance.now();
        done();
        return;
      }
      setTimeout(tick, Math.max(0, t0 + i * interval - performance.now()));
    };
    tick();
  });
  const cpuTo = cpuNow();
  const cpu = {
    broker: cpuTo.broker - cpuFrom.broker,
    fleet: cpuTo.fleet - cpuFrom.fleet,
    bridge: cpuTo.bridge - cpuFrom.bridge,
  };
  const drainUntil = performance.now() + drainTimeoutMs;
  while (pending.size > 0 && performance.now() < drainUntil) await new Promise((wake) => setTimeout(wake, 20));
  const sent = total - warmupCount;
  return {
    h,
    sent,
    answered,
    lost: pending.size,
    totalSent: total,
    duplicates,
    sendRate: sent / ((sentAt - measuredFrom) / 1_000),
    answerRate: answered / ((lastAnswerAt - measuredFrom) / 1_000),
    maxSendLagMs,
    cpu,
    window: { from: windowFrom, to: Date.now() - (performance.now() - sentAt) },
  };
}

async function runBroker(kind: BrokerKind, options: Options) {
  const dir = mkdtempSync(join(tmpdir(), "fleet-commands-"));
  const machines = makeMachines(options.machines, "F");
  const logins = machines.map((m) => ({ username: m.id, passwordHash: hashMachineSecret(m.password) }));
  const loadBefore = loadavg();
  const broker = await startBroker(kind, dir, logins);
  const fleet = new Fleet(import.meta.filename, options.processes);
  try {
    await fleet.ready();
    const rssEmpty = rssOf(broker.pid);
    const connectStarted = performance.now();
    const answers = await withTimeout(
      fleet.order("connect", machines, { url: broker.url }),
      connectTimeoutMs,
      `${kind}: connecting ${options.machines} machines`,
    );
    const connectSeconds = (performance.now() - connectStarted) / 1_000;
    const connected = answers.reduce((sum, answer) => sum + Number(answer.connected), 0);
    if (connected !== machines.length)
      throw new Error(`${kind}: ${connected} of ${machines.length} machines connected`);
    const bridge = await connectBridge(broker.url);
    const measured = await drive(bridge, machines, options, () => cpuSeconds(broker.pid, fleet));
    const rssFull = rssOf(broker.pid);
    const { from, to } = measured.window;
    const gc = (await broker.gcPauses?.())?.filter((pause) => pause.at >= from && pause.at <= to);
    const counts = await fleet.tell("count");
    await bridge.endAsync();
    await fleet.stop();
    await broker.stop();
    return {
      kind,
      ...measured,
      connectSeconds,
      retries: answers.reduce((sum, answer) => sum + Number(answer.retries), 0),
      gc: gc && {
        count: gc.length,
        totalMs: gc.reduce((sum, pause) => sum + pause.ms, 0),
        maxMs: Math.max(0, ...gc.map((pause) => pause.ms)),
      },
      lostConnections: counts.reduce((sum, answer) => sum + Number(answer.lostConnections), 0),
      rssEmptyMb: rssEmpty / 1e6,
      rssFullMb: rssFull / 1e6,
      loadBefore,
      loadAfter: loadavg(),
    };
  } catch (error) {
    fleet.kill();
    await broker.stop().catch(() => undefined);
    throw error;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const defaults: Options = { machines: 5_000, rate: 1_000, seconds: 20, warmup: 5, processes: 3 };
  const { values } = parseArgs({
    options: {
      ...Object.fromEntries(Object.keys(defaults).map((name) => [name, { type: "string" as const }])),
      broker: { type: "string", default: "embedded,mosquitto" },
    },
  });
  const options = Object.fromEntries(
    Object.entries(defaults).map(([name, fallback]) => [
      name,
      Number((values as Record<string, unknown>)[name] ?? fallback),
    ]),
  ) as unknown as Options;
  const kinds = String(values.broker).split(",") as BrokerKind[];
  const results = [];
  for (const kind of kinds) results.push(await runBroker(kind, options));

  const ms = (micros: number) => (micros / 1_000).toFixed(2);
  const load = (avg: number[]) => avg.map((value) => value.toFixed(2)).join(" ");
  console.log(
    `\nfleet-commands: ${options.machines} machines over ${options.processes} processes, ping -> pong QoS 1, open loop ${options.rate}/s for ${options.seconds} s (+${options.warmup} s warm-up)`,
  );
  console.log(
    "| broker | connect all (s) | sent | answered | lost | dup | p50 ms | p99 ms | p99.9 ms | max ms | sent/s | answered/s | sender late max (ms) | CPU s: broker / fleet / bridge | broker RSS MB (empty -> full) | load avg before -> after (1/5/15 min) |",
  );
  console.log("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
  for (const r of results) {
    console.log(
      `| ${r.kind} | ${r.connectSeconds.toFixed(2)} | ${r.sent} | ${r.answered} | ${r.lost} | ${r.duplicates} | ${ms(r.h.getValueAtPercentile(50))} | ${ms(r.h.getValueAtPercentile(99))} | ${ms(r.h.getValueAtPercentile(99.9))} | ${ms(r.h.maxValue)} | ${r.sendRate.toFixed(0)} | ${r.answerRate.toFixed(0)} | ${r.maxSendLagMs.toFixed(1)} | ${r.cpu.broker.toFixed(2)} / ${r.cpu.fleet.toFixed(2)} / ${r.cpu.bridge.toFixed(2)} | ${r.rssEmptyMb.toFixed(0)} -> ${r.rssFullMb.toFixed(0)} | ${load(r.loadBefore)} -> ${load(r.loadAfter)} |`,
    );
    if (r.gc)
      console.log(
        `${r.kind} broker's GC over the measured window: ${r.gc.count} pauses, ${r.gc.totalMs.toFixed(0)} ms in all, longest ${r.gc.maxMs.toFixed(1)} ms`,
      );
    if (r.retries > 0 || r.lostConnections > 0)
      console.log(`${r.kind}: ${r.retries} connect retries, ${r.lostConnections} connections lost and made again`);
  }
  const embedded = results.find((r) => r.kind === "embedded");
  const mosquitto = results.find((r) => r.kind === "mosquitto");
  if (embedded && mosquitto) {
    const ratio = embedded.h.getValueAtPercentile(99) / mosquitto.h.getValueAtPercentile(99);
    console.log(`embedded p99 / Mosquitto p99 = ${ratio.toFixed(2)}x (target: at most 2x)`);
  }
  const tooLossy = results.filter((r) => r.lost > maxLostShare * r.totalSent);
  if (tooLossy.length > 0) {
    for (const r of tooLossy) console.error(`${r.kind}: ${r.lost} of ${r.totalSent} commands lost (more than 1 %)`);
    process.exit(1);
  }
}

if (process.argv[2] === "--child") await machinesChild();
else if (process.argv[2] === "--broker") await brokerChild();
else await main();
