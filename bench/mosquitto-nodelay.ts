/**
 * What `set_tcp_nodelay true` in mosquitto.conf is worth (docs/external-mosquitto.md): sequential command round trips
 * (bridge publishes a QoS 1 command, the machine answers with a QoS 1 event, the bridge receives it) through a
 * Mosquitto of its own on loopback, with and without the line; both clients turn Nagle off on their side, as the
 * bridge and the agent do. Prints p50 and p99 per broker config.
 *   npx tsx bench/mosquitto-nodelay.ts [roundTrips=200]
 */
import type { Socket } from "node:net";
import mqtt, { type MqttClient } from "mqtt";
import { freePort, MosquittoProcess } from "../test/fleet/mosquitto-process.ts";

const roundTrips = Number(process.argv[2] ?? 200);

async function client(url: string, clientId: string): Promise<MqttClient> {
  const connected = await mqtt.connectAsync(url, { clientId, protocolVersion: 4, clean: true, reconnectPeriod: 0 });
  (connected.stream as Partial<Socket>).setNoDelay?.(true);
  return connected;
}

async function measure(nodelay: boolean): Promise<{ p50: number; p99: number }> {
  const port = await freePort();
  const config = [
    `listener ${port} 127.0.0.1`,
    "allow_anonymous true",
    "persistence false",
    "log_type error",
    ...(nodelay ? ["set_tcp_nodelay true"] : []),
    "",
  ].join("\n");
  const broker = await MosquittoProcess.start({ port, config });
  try {
    const bridge = await client(broker.url, "bench-bridge");
    const agent = await client(broker.url, "bench-agent");
    await agent.subscribeAsync("bench/M1/cmd/+", { qos: 1 });
    await bridge.subscribeAsync("bench/M1/event/+", { qos: 1 });
    agent.on("message", (_topic, payload) => {
      agent.publish("bench/M1/event/ack", payload, { qos: 1 });
    });
    const times: number[] = [];
    for (let i = 0; i < roundTrips + 20; i++) {
      const started = performance.now();
      const answered = new Promise<void>((resolve) => bridge.once("message", () => resolve()));
      bridge.publish("bench/M1/cmd/unlock", String(i), { qos: 1 });
      await answered;
      if (i >= 20) times.push(performance.now() - started); // the first 20 warm up
    }
    await Promise.all([bridge.endAsync(true), agent.endAsync(true)]);
    times.sort((a, b) => a - b);
    const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? Number.NaN;
    return { p50: at(0.5), p99: at(0.99) };
  } finally {
    await broker.close();
  }
}

for (const nodelay of [false, true]) {
  const { p50, p99 } = await measure(nodelay);
  console.log(
    `set_tcp_nodelay ${nodelay ? "true " : "false"}: command round trip p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms (${roundTrips} trips)`,
  );
}
