import type { MqttClient } from "mqtt";
import { afterEach, describe, expect, it } from "vitest";
import type { EmbeddedBroker } from "../../backend-bridge/broker/embedded-broker.ts";
import { machineTopics } from "../../protocol/topics.ts";
import { bridgeUser, collect, connectOk, startTestBroker, testCredentials, waitFor } from "./helpers.ts";

/**
 * holdMachinesUntilAdmitted: at the bridge's start, machines' logins wait until the bridge's own link has subscribed,
 * so that what a machine publishes right after connecting (availability, resent events, a replayed-unlock refusal)
 * reaches a subscriber. The bridge's own login is never held.
 */

const root = "vending/v1";
const m1 = machineTopics(root, "M1");

describe("embedded broker: machines admitted after the bridge's link", () => {
  let broker: EmbeddedBroker | undefined;
  const clients: MqttClient[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.endAsync(true)));
    await broker?.close();
    broker = undefined;
  });

  it("holds a machine's CONNACK until admitMachines(); the bridge logs in and subscribes first", async () => {
    broker = await startTestBroker({
      credentials: testCredentials({ M1: "password-of-m1" }),
      holdMachinesUntilAdmitted: true,
    });
    const url = `mqtt://127.0.0.1:${broker.tcpPort}`;
    let machineConnected = false;
    const machine = connectOk(url, { clientId: "M1", username: "M1", password: "password-of-m1" }).then((client) => {
      machineConnected = true;
      clients.push(client);
      return client;
    });
    const bridge = await connectOk(url, { clientId: `bridge-${Math.random()}`, ...bridgeUser });
    clients.push(bridge);
    const seen = collect(bridge);
    await bridge.subscribeAsync(`${root}/+/event/#`, { qos: 1 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(machineConnected).toBe(false);
    broker.admitMachines();
    const agent = await machine;
    // The first thing the machine says after connecting reaches the subscribed bridge.
    await agent.publishAsync(m1.event("command-rejected"), '{"first":true}', { qos: 1 });
    await waitFor(() => seen.length === 1, 3_000, "the machine's first event");
    expect(seen[0]?.topic).toBe(m1.event("command-rejected"));
  });

  it("admits machines at once by default", async () => {
    broker = await startTestBroker({ credentials: testCredentials({ M1: "password-of-m1" }) });
    const agent = await connectOk(`mqtt://127.0.0.1:${broker.tcpPort}`, {
      clientId: "M1",
      username: "M1",
      password: "password-of-m1",
    });
    clients.push(agent);
    expect(agent.connected).toBe(true);
  });
});
