import type { MqttClient } from "mqtt";
import { afterEach, describe, expect, it } from "vitest";
import type { EmbeddedBroker } from "../../backend-bridge/broker/embedded-broker.ts";
import { InMemoryMachineCredentials } from "../../backend-bridge/broker/machine-credentials.ts";
import { hashMachineSecret } from "../../backend-bridge/broker/machine-secret.ts";
import { bridgeUser, collect, connectOk, startTestBroker } from "./helpers.ts";

/**
 * A fleet's connections can all end in the same instant: the bridge shuts down with every machine connected, or a NAT
 * gateway or cellular APN drops every socket at once. Each machine leaves a will (its `availability` gone), so the
 * embedded broker publishes thousands of wills in one tick. aedes 1.2 / mqemitter then recursed once per queued will
 * and the bridge died of "Maximum call stack size exceeded" (seen stopping a 5,000-machine reconnect-storm bench).
 */

const machineCount = 3_000;
const root = "vending/v1";

let broker: EmbeddedBroker | undefined;
const clients: MqttClient[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.end(true);
  await broker?.close();
  broker = undefined;
});

async function connectFleet(count: number): Promise<{ url: string; bridge: MqttClient }> {
  const credentials = new InMemoryMachineCredentials();
  const ids = Array.from({ length: count }, (_, i) => `M${String(i).padStart(5, "0")}`);
  const hash = hashMachineSecret("machine-secret-0123456789");
  for (const id of ids) credentials.set(id, { passwordHash: hash });
  broker = await startTestBroker({ credentials, drainTimeoutMs: 1_000 });
  const url = `mqtt://127.0.0.1:${broker.tcpPort}`;
  const bridge = await connectOk(url, { clientId: "vend-bridge", ...bridgeUser });
  await bridge.subscribeAsync(`${root}/+/availability`, { qos: 1 });
  clients.push(bridge);
  // In batches: the point is the disconnect, not a connect storm.
  for (let from = 0; from < ids.length; from += 250) {
    const batch = ids.slice(from, from + 250);
    clients.push(
      ...(await Promise.all(
        batch.map((id) =>
          connectOk(url, {
            clientId: id,
            username: id,
            password: "machine-secret-0123456789",
            connectTimeout: 30_000,
            will: { topic: `${root}/${id}/availability`, payload: Buffer.from("offline"), qos: 1, retain: true },
          }),
        ),
      )),
    );
  }
  return { url, bridge };
}

function uncaughtDuring<T>(work: () => Promise<T>): Promise<{ result: T; uncaught: unknown[] }> {
  const uncaught: unknown[] = [];
  const record = (error: unknown) => uncaught.push(error);
  process.on("uncaughtException", record);
  return (
    work()
      // The wills are published after close() has resolved: give them time to blow up inside the window.
      .then(async (result) => {
        await new Promise((wake) => setTimeout(wake, 1_000));
        return { result, uncaught };
      })
      .finally(() => process.off("uncaughtException", record))
  );
}

describe("the embedded broker when every machine's connection ends at once", () => {
  it("takes 20,000 wills queued in one tick, most for no subscriber, without overflowing the stack", async () => {
    // The bench's children ended 5,000 connections together: the first wills' deliveries to the bridge are async and
    // hold mqemitter's 100 slots, the rest queue; a message nobody subscribes to ($SYS/.../disconnect/clients for
    // every client, the wills once the bridge's link is gone) finished synchronously, and mqemitter took the next
    // queued one on the same stack, once per message: "Maximum call stack size exceeded", and the bridge died.
    const { bridge } = await connectFleet(0);
    const seen = collect(bridge);
    const wills = 20_000;
    let published = 0;
    const { uncaught } = await uncaughtDuring(async () => {
      for (let i = 0; i < wills; i++) {
        broker?.aedes.publish(
          {
            cmd: "publish",
            topic: i < 300 ? `${root}/W${i}/availability` : `$SYS/test/disconnect/clients`,
            payload: Buffer.from("offline"),
            qos: 1,
            retain: false,
            dup: false,
          },
          () => {
            published++;
          },
        );
      }
      const deadline = Date.now() + 20_000;
      while (published < wills && Date.now() < deadline) await new Promise((wake) => setTimeout(wake, 50));
    });
    expect(uncaught).toEqual([]);
    expect(published).toBe(wills);
    expect(seen.length).toBe(300);
  }, 60_000);

  it(`closes cleanly with ${machineCount} machines connected, their wills pending`, async () => {
    await connectFleet(machineCount);
    expect(broker?.connectedClients()).toBe(machineCount + 1);
    const { uncaught } = await uncaughtDuring(async () => {
      await broker?.close();
      broker = undefined;
    });
    expect(uncaught).toEqual([]);
  }, 120_000);

  it(`publishes every will and keeps serving when ${machineCount} machine sockets drop in the same tick`, async () => {
    const { url, bridge } = await connectFleet(machineCount);
    const seen = collect(bridge);
    const machines = clients.slice(1);
    const { uncaught } = await uncaughtDuring(async () => {
      // Abrupt: no DISCONNECT, so every will is due.
      for (const client of machines) client.stream.destroy();
      const deadline = Date.now() + 60_000;
      while (seen.filter((m) => m.payload === "offline").length < machineCount && Date.now() < deadline) {
        await new Promise((wake) => setTimeout(wake, 50));
      }
    });
    expect(uncaught).toEqual([]);
    expect(new Set(seen.filter((m) => m.payload === "offline").map((m) => m.topic)).size).toBe(machineCount);
    // Still a broker: a machine logs in again.
    const back = await connectOk(url, {
      clientId: "M00000",
      username: "M00000",
      password: "machine-secret-0123456789",
    });
    clients.push(back);
    expect(back.connected).toBe(true);
  }, 120_000);
});
