/**
 * Command round trip through the agent: the bridge publishes a command -> the broker -> the agent validates it,
 * journals it (fsync) and acts -> its event comes back through the broker to the bridge. Measured for ping -> pong
 * and for unlock -> unlocked (signed; the session is cancelled between rounds), one command at a time, against the
 * embedded aedes (issue 5b's broker, in this process) and the real Mosquitto on 127.0.0.1:1883 when it runs.
 * The floor is the same hops with no logic: a bare MQTT.js client that echoes each command as an event.
 * TCP_NODELAY is set on both ends (the agent's link and this bridge client; the embedded broker's listener).
 *   npx tsx bench/command-roundtrip.ts [pings=2000] [unlocks=300]
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt, { type MqttClient } from "mqtt";
import { startEmbeddedBroker } from "../backend-bridge/broker/embedded-broker.ts";
import { InMemoryMachineCredentials } from "../backend-bridge/broker/machine-credentials.ts";
import { hashPassword } from "../backend-bridge/broker/password-hash.ts";
import { silentLogger } from "../platform/logger.ts";
import { signCommand } from "../protocol/signing.ts";
import { machineTopics } from "../protocol/topics.ts";
import { commandPayload, histogram } from "./round-trips.ts";

const pings = Number(process.argv[2] ?? 2_000);
const unlocks = Number(process.argv[3] ?? 300);
const commandKey = "5a".repeat(32);
const machinePassword = "bench-machine";
const bridgeUser = { username: "bench-bridge", password: "bench-bridge-secret" };

if (process.argv[2] === "--echo") await echo(process.argv[3] ?? "", process.argv[4] ?? "", process.argv[5] ?? "");

/** The floor: a machine that answers each command at once, with no validation, journal or session. */
async function echo(url: string, root: string, machineId: string): Promise<never> {
  const topics = machineTopics(root, machineId);
  const client = mqtt.connect(url, {
    clientId: machineId,
    username: machineId,
    password: machinePassword,
    clean: true,
  });
  client.on("connect", () => {
    (client.stream as Partial<Socket>).setNoDelay?.(true);
    client.subscribe(topics.commandFilter, { qos: 1 }, () => process.stdout.write("ready\n"));
  });
  client.on("message", (_topic, payload) => {
    const command = JSON.parse(payload.toString()) as { commandId: string };
    client.publish(topics.event("pong"), JSON.stringify({ commandId: command.commandId }), { qos: 1 });
  });
  return new Promise<never>(() => undefined);
}

interface Bridge {
  client: MqttClient;
  waiters: Map<string, (name: string, payload: Record<string, unknown>) => void>;
}

async function connectBridge(url: string, root: string, credentials: typeof bridgeUser | undefined): Promise<Bridge> {
  const client = mqtt.connect(url, {
    clientId: `bench-${randomUUID().slice(0, 8)}`,
    clean: true,
    ...(credentials ?? {}),
  });
  await new Promise<void>((resolve, reject) => {
    client.once("connect", () => resolve());
    client.once("error", reject);
  });
  (client.stream as Partial<Socket>).setNoDelay?.(true);
  const bridge: Bridge = { client, waiters: new Map() };
  await client.subscribeAsync(`${root}/+/event/+`, { qos: 1 });
  client.on("message", (topic, payload) => {
    const name = topic.slice(topic.lastIndexOf("/") + 1);
    const body = JSON.parse(payload.toString()) as Record<string, unknown>;
    const machineId = topic.slice(root.length + 1).split("/")[0] ?? "";
    // Acknowledge agent events as the bridge does, so the agent's outbox stays empty.
    if (typeof body.eventId === "string") {
      const now = Date.now();
      const ack: Record<string, unknown> = {
        commandId: randomUUID(),
        issuedAt: now,
        expiresAt: now + 30_000,
        eventIds: [body.eventId],
      };
      // Every command is signed (the agent refuses unsigned ones); the echo machine ignores the signature.
      ack.signature = signCommand(commandKey, machineId, "ack", ack);
      client.publish(machineTopics(root, machineId).command("ack"), JSON.stringify(ack), { qos: 1 });
    }
    const key =
      typeof body.commandId === "string"
        ? body.commandId
        : typeof body.sessionId === "string"
          ? `${name}:${body.sessionId}`
          : "";
    bridge.waiters.get(key)?.(name, body);
    bridge.waiters.get(`${name}:${String(body.sessionId)}`)?.(name, body);
  });
  return bridge;
}

function waitFor(bridge: Bridge, key: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timeout waiting for ${key}`)), 10_000);
    bridge.waiters.set(key, () => {
      clearTimeout(timer);
      bridge.waiters.delete(key);
      resolve();
    });
  });
}

function startChild(args: string[], env: NodeJS.ProcessEnv = {}): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", ...args], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, ...env },
  });
  return new Promise((resolve, reject) => {
    let buffer = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      buffer += chunk.toString();
      if (buffer.includes("ready") || buffer.includes('"vend mechanism up"')) resolve(child);
    });
    child.once("exit", (code) => reject(new Error(`child exited ${code}: ${buffer.slice(-2_000)}`)));
  });
}

async function measure(
  bridge: Bridge,
  root: string,
  machineId: string,
  count: number,
  name: string,
  build: (i: number) => { topic: string; payload: object; key: string },
) {
  const h = histogram();
  const warmup = Math.min(100, Math.floor(count / 10));
  for (let i = 0; i < count + warmup; i += 1) {
    const { topic, payload, key } = build(i);
    const done = waitFor(bridge, key);
    const start = process.hrtime.bigint();
    bridge.client.publish(topic, JSON.stringify(payload), { qos: 1 });
    await done;
    const micros = Number((process.hrtime.bigint() - start) / 1_000n);
    if (i >= warmup) h.recordValue(micros);
  }
  void root;
  void machineId;
  return { name, h };
}

function command(extra: object, signFor?: { machineId: string; name: string }) {
  return commandPayload(extra, signFor && { key: commandKey, ...signFor });
}

async function runAgainst(label: string, url: string, root: string, credentials: typeof bridgeUser | undefined) {
  const rows: { name: string; h: ReturnType<typeof histogram> }[] = [];
  const bridge = await connectBridge(url, root, credentials);
  // The floor: a bare echo machine.
  const echoId = `E${randomUUID().slice(0, 8)}`;
  const echoChild = await startChild([new URL(import.meta.url).pathname, "--echo", url, root, echoId]);
  rows.push(
    await measure(bridge, root, echoId, pings, "floor: bare echo client", () => {
      const payload = command({});
      return { topic: machineTopics(root, echoId).command("ping"), payload, key: payload.commandId };
    }),
  );
  echoChild.kill("SIGKILL");

  // The agent: `vend-agent run` with the simulator (MDB) driver, a child process like on a machine.
  const machineId = `A${randomUUID().slice(0, 8)}`;
  const dir = mkdtempSync(join(tmpdir(), "bench-roundtrip-"));
  const configFile = join(dir, "agent.yaml");
  writeFileSync(
    configFile,
    JSON.stringify({
      machine: { id: machineId, merchantId: "bench" },
      mqtt: { url, rootTopic: root, password: machinePassword },
      commandKey,
      catalog: { currency: "EUR", products: { A1: { name: "Water", sku: "W", priceMinor: 150, mdbItem: 11 } } },
      hardware: { driver: "simulator", simulate: "mdb", vendDurationMs: 50 },
      session: { mode: "single-vend" },
      display: { renderer: "none" },
      dataDir: join(dir, "data"),
      log: { level: "info" },
    }),
  );
  const agent = await startChild(["agent/main.ts", "run", "--config", configFile]);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const topics = machineTopics(root, machineId);
  rows.push(
    await measure(bridge, root, machineId, pings, "agent: ping -> pong", () => {
      const payload = command({}, { machineId, name: "ping" });
      return { topic: topics.command("ping"), payload, key: payload.commandId };
    }),
  );
  const h = histogram();
  for (let i = 0; i < unlocks + 20; i += 1) {
    const sessionId = `s-${i}-${randomUUID().slice(0, 8)}`;
    const body = command({ sessionId, budgetMinor: 500, currency: "EUR" }) as Record<string, unknown>;
    body.signature = signCommand(commandKey, machineId, "unlock", body);
    const unlocked = waitFor(bridge, `unlocked:${sessionId}`);
    const start = process.hrtime.bigint();
    bridge.client.publish(topics.command("unlock"), JSON.stringify(body), { qos: 1 });
    await unlocked;
    if (i >= 20) h.recordValue(Number((process.hrtime.bigint() - start) / 1_000n));
    const ended = waitFor(bridge, `session-ended:${sessionId}`);
    bridge.client.publish(
      topics.command("cancel"),
      JSON.stringify(command({ sessionId, reason: "operator" }, { machineId, name: "cancel" })),
      {
        qos: 1,
      },
    );
    await ended;
  }
  rows.push({ name: "agent: unlock -> unlocked (signed)", h });
  agent.kill("SIGTERM");
  await new Promise((resolve) => agent.once("exit", resolve));
  rmSync(dir, { recursive: true, force: true });
  await bridge.client.endAsync();

  console.log(`\n${label}`);
  console.log("| round trip | n | p50 ms | p99 ms | p99.9 ms | max ms |");
  console.log("|---|---|---|---|---|---|");
  for (const row of rows) {
    const ms = (micros: number) => (micros / 1_000).toFixed(2);
    console.log(
      `| ${row.name} | ${row.h.totalCount} | ${ms(row.h.getValueAtPercentile(50))} | ${ms(row.h.getValueAtPercentile(99))} | ${ms(row.h.getValueAtPercentile(99.9))} | ${ms(row.h.maxValue)} |`,
    );
  }
  const floor = rows[0]?.h.getValueAtPercentile(50) ?? 1;
  const agentPing = rows[1]?.h.getValueAtPercentile(50) ?? 0;
  console.log(
    `agent ping p50 / floor p50 = ${(agentPing / floor).toFixed(1)}x (the difference is validation + one fsync'd journal record + the ack)`,
  );
}

// ---- embedded aedes in this process
const root = `bench-${randomUUID().slice(0, 6)}/v1`;
const credentials = new InMemoryMachineCredentials();
const broker = await startEmbeddedBroker({
  rootTopic: root,
  credentials: {
    lookup: (machineId) => credentials.lookup(machineId) ?? { passwordHash: hashed },
  },
  bridgeUser,
  tcp: { host: "127.0.0.1", port: 0 },
  drainTimeoutMs: 10_000,
  maxTopicLevels: 16,
  logger: silentLogger(),
});
const hashed = hashPassword(machinePassword, { log2N: 10, r: 8, p: 1 });
await runAgainst(
  `embedded aedes (127.0.0.1:${broker.tcpPort}), pings=${pings}, unlocks=${unlocks}`,
  `mqtt://127.0.0.1:${broker.tcpPort}`,
  root,
  bridgeUser,
);
await broker.close();

// ---- the real Mosquitto, when it runs
const mosquitto = process.env.TEST_MOSQUITTO_URL ?? "mqtt://127.0.0.1:1883";
try {
  await runAgainst(
    `Mosquitto (${mosquitto}), pings=${pings}, unlocks=${unlocks}`,
    mosquitto,
    `bench-${randomUUID().slice(0, 6)}/v1`,
    undefined,
  );
} catch (error) {
  console.log(`\nMosquitto run skipped: ${(error as Error).message}`);
}
process.exit(0);
