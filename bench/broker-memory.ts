/**
 * What the embedded broker keeps per connected machine (issue 17, "memory per connection"): the embedded aedes in this
 * process (with --expose-gc), N machines (MQTT.js clients in a child process, so that their memory is not counted)
 * that log in with their own password, subscribe to their commands, and publish a retained availability and (unless
 * --no-state) a retained state of about 400 bytes, as agents do. Printed per connection, after a full GC: live JS heap,
 * the heap V8 holds (heapTotal), RSS, and external/ArrayBuffer memory.
 *
 *   node --expose-gc --import tsx bench/broker-memory.ts [--machines 3000] [--no-state]
 *
 * A heap snapshot diff (`--snapshots DIR` writes before/after .heapsnapshot files) shows where the heap goes.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { writeHeapSnapshot } from "node:v8";
import { startEmbeddedBroker } from "../backend-bridge/broker/embedded-broker.ts";
import { InMemoryMachineCredentials } from "../backend-bridge/broker/machine-credentials.ts";
import { hashMachineSecret } from "../backend-bridge/broker/machine-secret.ts";
import { silentLogger } from "../platform/logger.ts";

const { values } = parseArgs({
  options: {
    machines: { type: "string", default: "3000" },
    "no-state": { type: "boolean", default: false },
    snapshots: { type: "string" },
  },
});
const count = Number(values.machines);
const gc = globalThis.gc;
if (!gc) throw new Error("run with node --expose-gc --import tsx bench/broker-memory.ts");

const password = "bench-machine-secret";
const credentials = new InMemoryMachineCredentials();
const hash = hashMachineSecret(password);
for (let i = 0; i < count; i++) credentials.set(`M${i}`, { passwordHash: hash });
const broker = await startEmbeddedBroker({
  rootTopic: "vending/v1",
  credentials,
  bridgeUser: { username: "vend-bridge", password: "bench-bridge-password" },
  tcp: { host: "127.0.0.1", port: 0 },
  drainTimeoutMs: 10_000,
  maxTopicLevels: 8,
  logger: silentLogger(),
});

function memory() {
  gc?.();
  const m = process.memoryUsage();
  return {
    rss: m.rss,
    heapUsed: m.heapUsed,
    heapTotal: m.heapTotal,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
  };
}

const machinesScript = `
const mqtt = require(${JSON.stringify(join(import.meta.dirname, "../node_modules/mqtt"))});
(async () => {
  const clients = [];
  for (let i = 0; i < ${count}; i += 100) {
    await Promise.all(Array.from({ length: Math.min(100, ${count} - i) }, async (_, j) => {
      const id = "M" + (i + j);
      const topic = (name) => "vending/v1/" + id + "/" + name;
      const client = await mqtt.connectAsync("mqtt://127.0.0.1:${broker.tcpPort}", {
        clientId: id, username: id, password: ${JSON.stringify(password)}, reconnectPeriod: 0, keepalive: 60,
        protocolVersion: 4, will: { topic: topic("availability"), payload: Buffer.from(""), qos: 1, retain: true },
      });
      await client.subscribeAsync(topic("cmd/+"), { qos: 1 });
      await client.publishAsync(topic("availability"),
        JSON.stringify({ state: "online", bootId: "b-" + id, bootSeq: 1, ts: Date.now() }), { qos: 1, retain: true });
      if (${!values["no-state"]}) await client.publishAsync(topic("state"),
        JSON.stringify({ screen: "idle", padding: "x".repeat(400) }), { qos: 1, retain: true });
      clients.push(client);
    }));
  }
  console.log("connected");
  setInterval(() => {}, 1000);
})();
`;

const before = memory();
if (values.snapshots) writeHeapSnapshot(join(values.snapshots, "before.heapsnapshot"));
const machines = spawn(process.execPath, ["-e", machinesScript], { stdio: ["ignore", "pipe", "inherit"] });
await new Promise<void>((resolve, reject) => {
  machines.once("exit", (code) => reject(new Error(`the machines' process exited with ${code}`)));
  machines.stdout?.on("data", (chunk: Buffer) => {
    if (chunk.toString().includes("connected")) resolve();
  });
});
await new Promise((resolve) => setTimeout(resolve, 1_000));
const after = memory();
if (values.snapshots) writeHeapSnapshot(join(values.snapshots, "after.heapsnapshot"));
const perConnection = (key: keyof typeof before) => ((after[key] - before[key]) / count / 1_000).toFixed(1);
console.log(
  `embedded aedes, ${count} machines${values["no-state"] ? " (no retained state)" : ""}, KB per connection: ` +
    `live heap ${perConnection("heapUsed")}, heap held ${perConnection("heapTotal")}, RSS ${perConnection("rss")}, ` +
    `external ${perConnection("external")} (ArrayBuffers ${perConnection("arrayBuffers")})`,
);
machines.removeAllListeners("exit");
machines.kill();
await broker.close();
