/**
 * Bridge memory per connected machine: N simulated machines (MQTT.js clients in this process) connect, publish
 * their retained availability and state; the bridge (a child process: the embedded aedes + the fleet link, or the
 * fleet link alone against a private Mosquitto the bench starts, configured as docs/external-mosquitto.md) reports its
 * RSS before and after, and so does that Mosquitto (its own process: not a shared broker's other clients). Usage:
 *   npx tsx bench/fleet-connect.ts [machines=1000]
 * The embedded run hashes machine passwords with a cheap scrypt (log2N 10) so that N logins do not measure scrypt;
 * the login cost at the default cost is printed separately.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import mqtt, { type MqttClient } from "mqtt";
import { startEmbeddedBroker } from "../backend-bridge/broker/embedded-broker.ts";
import { InMemoryMachineCredentials } from "../backend-bridge/broker/machine-credentials.ts";
import { hashMachineSecret } from "../backend-bridge/broker/machine-secret.ts";
import { hashPassword, verifyPassword } from "../backend-bridge/broker/password-hash.ts";
import { InMemoryMachineKeys } from "../backend-bridge/fleet/machine-keys.ts";
import { MqttFleetLink } from "../backend-bridge/fleet/mqtt-fleet-link.ts";
import { freePort } from "../platform/free-port.ts";
import { silentLogger } from "../platform/logger.ts";
import { machineTopics } from "../protocol/topics.ts";
import { childLines } from "./child-lines.ts";
import { rssOf } from "./fleet-sim.ts";
import { startPrivateMosquitto } from "./private-mosquitto.ts";

const password = "bench-machine-password";
const bridgeUser = { username: "vend-bridge", password: "bench-bridge-password" };

function memory() {
  const usage = process.memoryUsage();
  return { rss: usage.rss, heap: usage.heapUsed };
}

/** The bridge side, in its own process so that its RSS is its own. Talks JSON lines on stdio. */
async function child(mode: "embedded" | "external", count: number, root: string, mosquittoUrl: string) {
  const send = (message: object) => process.stdout.write(`${JSON.stringify(message)}\n`);
  let url = mosquittoUrl;
  let close = async () => {};
  const baseline = memory();
  if (mode === "embedded") {
    const credentials = new InMemoryMachineCredentials();
    const hash = hashPassword(password, { log2N: 10, r: 8, p: 1 });
    for (let i = 0; i < count; i++) credentials.set(`M${i}`, { passwordHash: hash });
    const broker = await startEmbeddedBroker({
      rootTopic: root,
      credentials,
      bridgeUser,
      tcp: { host: "127.0.0.1", port: 0 },
      drainTimeoutMs: 10_000,
      maxTopicLevels: 8,
      logger: silentLogger(),
    });
    url = `mqtt://127.0.0.1:${broker.tcpPort}`;
    close = () => broker.close();
  }
  const link = new MqttFleetLink({
    url,
    rootTopic: root,
    keys: new InMemoryMachineKeys(),
    commandTtlMs: 30_000,
    logger: silentLogger(),
    ...bridgeUser,
    ...(mode === "embedded" ? {} : { sharedSubscriptionGroup: `bench-${root.replaceAll("/", "-")}` }),
  });
  await link.start();
  global.gc?.();
  send({ ready: true, url, empty: memory(), baseline });
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === "measure") {
      global.gc?.();
      send({ online: link.onlineCount(), ...memory() });
    } else if (line === "stop") {
      await link.stop();
      await close();
      send({ stopped: true });
      process.exit(0);
    }
  }
}

/** A Mosquitto of the bench's own, with every machine's login: its RSS is the broker's alone. */
async function privateMosquitto(
  count: number,
  root: string,
): Promise<{ url: string; process: ChildProcess; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), "fleet-connect-"));
  const port = await freePort();
  const passwordHash = hashMachineSecret(password);
  const broker = await startPrivateMosquitto({
    dir,
    port,
    rootTopic: root,
    bridgeUser,
    machines: Array.from({ length: count }, (_, i) => ({ username: `M${i}`, passwordHash })),
    logName: "mosquitto-fleet-connect.log",
  });
  return { url: `mqtt://127.0.0.1:${port}`, process: broker, dir };
}

async function run(mode: "embedded" | "external", count: number) {
  const root = `bench-${randomUUID().slice(0, 8)}/v1`;
  const mosquitto = mode === "external" ? await privateMosquitto(count, root) : undefined;
  const mosquittoRss = () => (mosquitto ? rssOf(mosquitto.process.pid) : undefined);
  const proc = spawn(
    process.execPath,
    [
      "--expose-gc",
      "--import",
      "tsx",
      import.meta.filename,
      "--child",
      mode,
      String(count),
      root,
      mosquitto?.url ?? "",
    ],
    {
      stdio: ["pipe", "pipe", "inherit"],
    },
  );
  const next = childLines(proc);
  const ready = await next();
  const url = String(ready.url);
  const mosquittoBefore = mode === "external" ? mosquittoRss() : undefined;
  const clients: MqttClient[] = [];
  const started = performance.now();
  const batch = 100;
  for (let i = 0; i < count; i += batch) {
    await Promise.all(
      Array.from({ length: Math.min(batch, count - i) }, async (_, j) => {
        const id = `M${i + j}`;
        const topics = machineTopics(root, id);
        const client = await mqtt.connectAsync(url, {
          protocolVersion: 4,
          clientId: id,
          username: id,
          password,
          reconnectPeriod: 0,
          keepalive: 60,
          will: { topic: topics.availability, payload: Buffer.from(""), qos: 1, retain: true },
        });
        clients.push(client);
        await client.publishAsync(
          topics.availability,
          JSON.stringify({ state: "online", bootId: randomUUID(), bootSeq: 1, ts: Date.now() }),
          { qos: 1, retain: true },
        );
      }),
    );
  }
  const connectSeconds = (performance.now() - started) / 1000;
  let measured: Record<string, unknown> = {};
  for (let attempt = 0; attempt < 100; attempt++) {
    proc.stdin?.write("measure\n");
    measured = await next();
    if (measured.online === count) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const mosquittoAfter = mode === "external" ? mosquittoRss() : undefined;
  // Clear the retained availabilities (the embedded broker's, or the private Mosquitto's before it stops).
  await Promise.all(
    clients.map(async (client) => {
      await client.publishAsync(machineTopics(root, client.options.clientId ?? "").availability, "", {
        qos: 1,
        retain: true,
      });
      await client.endAsync();
    }),
  );
  proc.stdin?.write("stop\n");
  await next();
  if (mosquitto) {
    mosquitto.process.kill("SIGTERM");
    await new Promise((resolve) => mosquitto.process.once("exit", resolve));
    rmSync(mosquitto.dir, { recursive: true, force: true });
  }
  const empty = ready.empty as { rss: number };
  return {
    mode,
    count,
    online: measured.online,
    connectSeconds,
    bridgeEmptyMb: empty.rss / 1e6,
    bridgeFullMb: Number(measured.rss) / 1e6,
    perMachineKb: (Number(measured.rss) - empty.rss) / count / 1e3,
    mosquittoMb: mosquittoAfter !== undefined ? mosquittoAfter / 1e6 : undefined,
    mosquittoPerMachineKb:
      mosquittoAfter !== undefined && mosquittoBefore !== undefined
        ? (mosquittoAfter - mosquittoBefore) / count / 1e3
        : undefined,
  };
}

async function loginCost() {
  const stored = hashPassword(password);
  const started = performance.now();
  const rounds = 20;
  await Promise.all(Array.from({ length: rounds }, () => verifyPassword(password, stored)));
  return (performance.now() - started) / rounds;
}

if (process.argv[2] === "--child") {
  await child(
    process.argv[3] as "embedded" | "external",
    Number(process.argv[4]),
    String(process.argv[5]),
    String(process.argv[6] ?? ""),
  );
} else {
  const count = Number(process.argv[2] ?? 1_000);
  const results = [await run("embedded", count), await run("external", count)];
  const fmt = (value: unknown, digits = 1) => (typeof value === "number" ? value.toFixed(digits) : "-");
  console.log(`\nfleet-connect: ${count} simulated machines, each: connect + login + retained online (QoS 1)`);
  console.log(
    "| broker | online seen | connect all (s) | bridge RSS empty (MB) | bridge RSS full (MB) | bridge KB/machine | Mosquitto RSS (MB) | Mosquitto KB/machine |",
  );
  console.log("|---|---|---|---|---|---|---|---|");
  for (const r of results) {
    console.log(
      `| ${r.mode === "embedded" ? "embedded aedes (in the bridge)" : "Mosquitto (external, $share)"} | ${r.online} | ${fmt(r.connectSeconds, 2)} | ${fmt(r.bridgeEmptyMb)} | ${fmt(r.bridgeFullMb)} | ${fmt(r.perMachineKb)} | ${fmt(r.mosquittoMb)} | ${fmt(r.mosquittoPerMachineKb, 2)} |`,
    );
  }
  console.log(
    `\nscrypt login at the default cost (log2N 14), 20 in parallel: ${fmt(await loginCost())} ms per login (thread pool); later logins of the same machine hit the in-memory HMAC cache`,
  );
}
