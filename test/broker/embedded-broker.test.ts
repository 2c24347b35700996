import { connect as netConnect } from "node:net";
import type { MqttClient } from "mqtt";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { EmbeddedBroker } from "../../backend-bridge/broker/embedded-broker.ts";
import { machineTopics } from "../../protocol/topics.ts";
import {
  bridgeUser,
  closed,
  collect,
  connectOk,
  grantedQos,
  startTestBroker,
  testCredentials,
  tryConnect,
  waitFor,
} from "./helpers.ts";

const root = "vending/v1";
const machines = { M1: "password-of-m1", M2: "password-of-m2" };
const m1 = machineTopics(root, "M1");
const m2 = machineTopics(root, "M2");

describe("embedded broker: logins and ACL over TCP", () => {
  let broker: EmbeddedBroker;
  let url: string;
  const clients: MqttClient[] = [];
  const open = async (options: Parameters<typeof connectOk>[1]) => {
    const client = await connectOk(url, options);
    clients.push(client);
    return client;
  };
  const machine = (id: "M1" | "M2") => open({ clientId: id, username: id, password: machines[id] });
  const bridge = () => open({ clientId: `bridge-${Math.random()}`, ...bridgeUser });

  beforeAll(async () => {
    broker = await startTestBroker({ credentials: testCredentials(machines) });
    url = `mqtt://127.0.0.1:${broker.tcpPort}`;
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.endAsync(true)));
  });
  afterAll(async () => {
    await broker.close();
  });

  it("binds an ephemeral port and refuses anonymous clients with CONNACK 5", async () => {
    expect(broker.tcpPort).toBeGreaterThan(0);
    const result = await tryConnect(url, { clientId: "anon" });
    expect(result).toMatchObject({ ok: false, code: 5 });
  });

  it("refuses a wrong password and an unknown machine with CONNACK 4", async () => {
    expect(await tryConnect(url, { clientId: "M1", username: "M1", password: "not-the-password" })).toMatchObject({
      ok: false,
      code: 4,
    });
    expect(await tryConnect(url, { clientId: "M9", username: "M9", password: "whatever-123" })).toMatchObject({
      ok: false,
      code: 4,
    });
    expect(await tryConnect(url, { clientId: "x", username: bridgeUser.username, password: "wrong" })).toMatchObject({
      ok: false,
      code: 4,
    });
  });

  it("refuses a machine whose client id is not its machine id (it could kick another machine's session)", async () => {
    const victim = await machine("M2");
    const result = await tryConnect(url, { clientId: "M2", username: "M1", password: machines.M1 });
    expect(result).toMatchObject({ ok: false, code: 2 });
    expect(victim.connected).toBe(true);
  });

  it("takes a diagnosis of a machine under its own client id beside the live machine, never one of another machine", async () => {
    const live = await machine("M1");
    const check = await tryConnect(url, { clientId: "M1:check:4242", username: "M1", password: machines.M1 });
    expect(check).toMatchObject({ ok: true });
    if (check.ok) clients.push(check.client);
    expect(live.connected).toBe(true);
    const other = await tryConnect(url, { clientId: "M2:check:4242", username: "M1", password: machines.M1 });
    expect(other).toMatchObject({ ok: false, code: 2 });
    // '-' may be part of a machine id: "M1-x" could be another machine's own id.
    expect(await tryConnect(url, { clientId: "M1-x", username: "M1", password: machines.M1 })).toMatchObject({
      ok: false,
      code: 2,
    });
  });

  it("lets a machine subscribe to its own commands only", async () => {
    const client = await machine("M1");
    const filters = [
      m1.commandFilter,
      m1.command("unlock"),
      m2.commandFilter,
      m2.command("unlock"),
      `${root}/+/cmd/+`,
      "#",
      "$SYS/#",
      m1.event("vended"),
      m1.subtree,
    ];
    const byTopic: Record<string, number> = {};
    for (const filter of filters) byTopic[filter] = await grantedQos(client, filter);
    expect(byTopic).toEqual({
      [m1.commandFilter]: 1,
      [m1.command("unlock")]: 1,
      [m2.commandFilter]: 128,
      [m2.command("unlock")]: 128,
      [`${root}/+/cmd/+`]: 128,
      "#": 128,
      "$SYS/#": 128,
      [m1.event("vended")]: 128,
      [m1.subtree]: 128,
    });
    expect(client.connected).toBe(true);
  });

  it("delivers the bridge's commands to the machine and the machine's events to the bridge", async () => {
    const agent = await machine("M1");
    const agentSeen = collect(agent);
    await agent.subscribeAsync(m1.commandFilter, { qos: 1 });
    const backend = await bridge();
    const backendSeen = collect(backend);
    await backend.subscribeAsync(`${root}/#`, { qos: 1 });
    await backend.publishAsync(m1.command("ping"), "{}", { qos: 1 });
    await agent.publishAsync(m1.event("pong"), "{}", { qos: 1 });
    await agent.publishAsync(m1.availability, "{}", { qos: 1, retain: true });
    await waitFor(() => agentSeen.length === 1 && backendSeen.length >= 3, 3_000, "deliveries");
    expect(agentSeen.map((message) => message.topic)).toEqual([m1.command("ping")]);
    expect(backendSeen.map((message) => message.topic)).toEqual(
      expect.arrayContaining([m1.event("pong"), m1.availability]),
    );
  });

  const refusedPublishes: [string, string, boolean][] = [
    ["another machine's event", m2.event("vended"), false],
    ["another machine's availability", m2.availability, true],
    ["a command (even its own)", m1.command("unlock"), false],
    ["$SYS", "$SYS/broker/heartbeat", false],
    ["a deep topic", `${m1.event("vended")}/a/b/c/d/e/f/g`, false],
    ["below its own event topic", `${m1.event("vended")}/extra`, false],
    ["a retained event", m1.event("vended"), true],
  ];
  it.each(refusedPublishes)(
    "closes a machine that publishes to %s; nothing is delivered",
    async (_what, topic, retain) => {
      const backend = await bridge();
      const seen = collect(backend);
      await backend.subscribeAsync({ "#": { qos: 1 }, "$SYS/+/marker": { qos: 0 } });
      const agent = await machine("M1");
      agent.publish(topic, '{"forged":true}', { qos: 0, retain });
      expect(await closed(agent)).toBe(true);
      // A marker through the same broker after the refusal: had the forged message passed, it would have come first.
      await backend.publishAsync(`${root}/marker`, "after", { qos: 1 });
      await waitFor(() => seen.some((message) => message.payload === "after"), 3_000, "the marker");
      expect(seen.filter((message) => message.payload.includes("forged"))).toEqual([]);
    },
  );

  it("refuses at CONNECT a machine whose last will is not its own availability topic", async () => {
    const result = await tryConnect(url, {
      clientId: "M1",
      username: "M1",
      password: machines.M1,
      will: { topic: m2.availability, payload: Buffer.from('{"state":"offline"}'), qos: 1, retain: true },
    });
    expect(result).toMatchObject({ ok: false, code: 5 });
  });

  it("publishes a machine's own last will (LWT) when its connection dies", async () => {
    const backend = await bridge();
    const seen = collect(backend);
    await backend.subscribeAsync(m1.availability, { qos: 1 });
    const agent = await open({
      clientId: "M1",
      username: "M1",
      password: machines.M1,
      will: { topic: m1.availability, payload: Buffer.from("offline-will"), qos: 1, retain: true },
    });
    agent.stream.destroy();
    await waitFor(() => seen.some((message) => message.payload === "offline-will"), 3_000, "the will");
  });

  it("lets the bridge user publish anywhere except $SYS and subscribe to $SYS", async () => {
    const backend = await bridge();
    expect(await grantedQos(backend, "$SYS/#", 0)).toBe(0);
    expect(await grantedQos(backend, "#", 1)).toBe(1);
    await backend.publishAsync(m2.state, "{}", { qos: 1, retain: false });
    expect(backend.connected).toBe(true);
    backend.publish("$SYS/forged", "x", { qos: 0 });
    expect(await closed(backend)).toBe(true);
  });

  it("refuses sockets that never send CONNECT once connectTimeout passes", async () => {
    const short = await startTestBroker({ credentials: testCredentials(machines), connectTimeoutMs: 200 });
    try {
      const socket = netConnect(short.tcpPort ?? 0, "127.0.0.1");
      const ended = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 3_000);
        socket.once("close", () => {
          clearTimeout(timer);
          resolve(true);
        });
        socket.on("error", () => {});
      });
      expect(ended).toBe(true);
    } finally {
      await short.close();
    }
  });
});

describe("embedded broker: clean close", () => {
  it("disconnects its clients and frees its port", async () => {
    const broker = await startTestBroker({ credentials: testCredentials({ M1: "password-of-m1" }) });
    const url = `mqtt://127.0.0.1:${broker.tcpPort}`;
    const client = await connectOk(url, { clientId: "M1", username: "M1", password: "password-of-m1" });
    const wasClosed = closed(client);
    await broker.close();
    expect(await wasClosed).toBe(true);
    expect(await tryConnect(url, { clientId: "M1", username: "M1", password: "password-of-m1" })).toMatchObject({
      ok: false,
    });
    await client.endAsync(true);
    await broker.close(); // idempotent
  });
});
