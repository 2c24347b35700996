import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EmbeddedBroker } from "../../backend-bridge/broker/embedded-broker.ts";
import type { FleetEvent } from "../../backend-bridge/fleet/fleet-link.ts";
import { InMemoryMachineKeys } from "../../backend-bridge/fleet/machine-keys.ts";
import { MqttFleetLink } from "../../backend-bridge/fleet/mqtt-fleet-link.ts";
import { silentLogger } from "../../platform/logger.ts";
import { machineTopics } from "../../protocol/topics.ts";
import { bridgeUser, collect, connectOk, startTestBroker, testCredentials, waitFor } from "../broker/helpers.ts";
import { FakeAgent } from "./fake-agent.ts";

/**
 * An event is something that happened once: a retained copy would be handed to every bridge that subscribes later, as
 * if it had just happened. The embedded broker refuses a machine's retained event, but Mosquitto's ACL cannot (it has
 * no per-topic retain rule; docs/external-mosquitto.md): so the fleet link itself ignores an event that reaches it as
 * a retained copy, never acknowledges it, and clears it from the broker (the bridge may write there). Here the bridge
 * user plays the machine that left one, since the embedded broker would refuse the machine.
 */
describe("a retained event left on the broker", () => {
  const root = "vending/v1";
  const m1 = machineTopics(root, "M1");
  let broker: EmbeddedBroker;
  let url: string;

  beforeAll(async () => {
    broker = await startTestBroker({ credentials: testCredentials({ M1: "password-of-m1" }) });
    url = `mqtt://127.0.0.1:${broker.tcpPort}`;
  });
  afterAll(async () => {
    await broker?.close();
  });

  it("is neither handled nor acknowledged by a bridge that subscribes later, and is cleared", async () => {
    const agent = await FakeAgent.connect(url, root, "M1", { username: "M1", password: "password-of-m1" });
    const planter = await connectOk(url, { clientId: "planter", ...bridgeUser });
    const stale = agent.pong();
    await planter.publishAsync(m1.event("pong"), JSON.stringify(stale), { qos: 1, retain: true });
    const handled: FleetEvent[] = [];
    const link = new MqttFleetLink({
      url,
      rootTopic: root,
      keys: new InMemoryMachineKeys([["M1", "ab".repeat(32)]]),
      commandTtlMs: 5_000,
      logger: silentLogger(),
      ackDelayMs: 5,
      ...bridgeUser,
    });
    link.onEvent(async (event) => {
      handled.push(event);
    });
    try {
      await link.start();
      // A live event after it: once this one is handled, the retained copy (delivered at SUBACK) was seen.
      const live = agent.pong();
      await agent.event("pong", live);
      await waitFor(() => handled.some((event) => event.payload.eventId === live.eventId), 5_000, "the live event");
      expect(handled.map((event) => event.payload.eventId)).toEqual([live.eventId]);
      await waitFor(() => agent.acks().flat().includes(live.eventId), 5_000, "the live event's ack");
      expect(agent.acks().flat()).not.toContain(stale.eventId);
      // Cleared: a new subscriber gets no retained copy (a marker published after shows the delivery is done).
      const later = await connectOk(url, { clientId: "later", ...bridgeUser });
      const seen = collect(later);
      await later.subscribeAsync([m1.event("pong"), `${root}/marker`], { qos: 1 });
      await later.publishAsync(`${root}/marker`, "after", { qos: 1 });
      await waitFor(() => seen.some((message) => message.payload === "after"), 3_000, "the marker");
      expect(seen.filter((message) => message.topic === m1.event("pong"))).toEqual([]);
      await later.endAsync(true);
      // Counted once, as the one message outside the contract: the clearing (an empty publish the broker also hands
      // live to the link) is the link's own doing, not a second invalid message from the machine.
      expect(link.invalidMessageCount()).toBe(1);
    } finally {
      await link.stop();
      await planter.endAsync(true);
      await agent.close();
    }
  });
});
