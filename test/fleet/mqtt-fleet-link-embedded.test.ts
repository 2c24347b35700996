import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EmbeddedBroker } from "../../backend-bridge/broker/embedded-broker.ts";
import type { FleetEvent } from "../../backend-bridge/fleet/fleet-link.ts";
import { InMemoryMachineKeys } from "../../backend-bridge/fleet/machine-keys.ts";
import { MqttFleetLink } from "../../backend-bridge/fleet/mqtt-fleet-link.ts";
import { silentLogger } from "../../platform/logger.ts";
import { bridgeUser, startTestBroker, testCredentials, waitFor } from "../broker/helpers.ts";
import { FakeAgent } from "./fake-agent.ts";
import { fleetLinkSuite } from "./fleet-link-suite.ts";

const machines = { M1: "password-of-m1", M2: "password-of-m2" };
const credentials = testCredentials(machines);
const agentOptions = (id: string) => ({ username: id, password: machines[id as keyof typeof machines] });

describe("MqttFleetLink against the embedded aedes (machines and bridge authenticated, ACL on)", () => {
  let broker: EmbeddedBroker;
  beforeAll(async () => {
    broker = await startTestBroker({ credentials });
  });
  afterAll(async () => {
    await broker.close();
  });

  fleetLinkSuite({
    url: () => `mqtt://127.0.0.1:${broker.tcpPort}`,
    root: "vending/v1",
    machines: ["M1", "M2"],
    agentOptions,
    linkOptions: { ...bridgeUser },
  });
});

describe("MqttFleetLink across a restart of the embedded broker", () => {
  it("reconnects, subscribes again and handles the events the agent resends", async () => {
    let broker = await startTestBroker({ credentials });
    const port = broker.tcpPort ?? 0;
    const url = `mqtt://127.0.0.1:${port}`;
    const link = new MqttFleetLink({
      url,
      rootTopic: "vending/v1",
      keys: new InMemoryMachineKeys([["M1", "ab".repeat(32)]]),
      commandTtlMs: 5_000,
      logger: silentLogger(),
      reconnectPeriodMs: 100,
      ackDelayMs: 5,
      ...bridgeUser,
    });
    const handled: FleetEvent[] = [];
    link.onEvent(async (event) => {
      handled.push(event);
    });
    const connections: boolean[] = [];
    link.onConnectionChange((connected) => connections.push(connected));
    let agent: FakeAgent | undefined;
    try {
      await link.start();
      agent = await FakeAgent.connect(url, "vending/v1", "M1", agentOptions("M1"));
      await agent.availability({ state: "online", bootId: randomUUID(), bootSeq: 1, ts: Date.now() });
      await waitFor(() => link.isOnline("M1"), 3_000, "online");

      await broker.close();
      await waitFor(() => !link.isConnected(), 3_000, "the link to notice");
      expect(link.isOnline("M1")).toBe(false);
      // The event sent while the broker is down is lost by MQTT; the agent keeps it unacknowledged and resends it.
      const event = agent.pong();

      broker = await startTestBroker({ credentials, tcp: { host: "127.0.0.1", port } });
      await waitFor(() => link.isConnected() && agent?.client.connected === true, 5_000, "both to reconnect");
      await agent.availability({ state: "online", bootId: randomUUID(), bootSeq: 2, ts: Date.now() });
      await waitFor(() => link.isOnline("M1"), 3_000, "online again");
      await agent.event("pong", event);
      await waitFor(() => agent?.acks().length === 1, 3_000, "the ack after the restart");
      expect(handled.map((item) => item.payload.eventId)).toEqual([event.eventId]);
      expect(connections).toEqual([true, false, true]);
    } finally {
      await link.stop();
      await agent?.close();
      await broker.close();
    }
  });
});
