import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { InMemoryMachineKeys } from "../../backend-bridge/fleet/machine-keys.ts";
import { MqttFleetLink } from "../../backend-bridge/fleet/mqtt-fleet-link.ts";
import { silentLogger } from "../../platform/logger.ts";
import { waitFor } from "../broker/helpers.ts";
import { hasService, mosquittoUrl } from "../helpers/system-tools.ts";
import { FakeAgent } from "./fake-agent.ts";
import { fleetLinkSuite } from "./fleet-link-suite.ts";

const mosquitto = new URL(mosquittoUrl);
const available = await hasService("Mosquitto", mosquitto.hostname, Number(mosquitto.port || 1883));
// Other helpers' tests share this Mosquitto: a root topic and machine ids of our own per run.
const run = randomUUID().slice(0, 8);
const root = `test-fleet-${run}/v1`;
const machines: [string, string] = [`A-${run}`, `B-${run}`];

describe.runIf(available)("MqttFleetLink in external mode against the real Mosquitto ($share events)", () => {
  fleetLinkSuite({
    url: () => mosquittoUrl,
    root,
    machines,
    agentOptions: () => ({}),
    linkOptions: { sharedSubscriptionGroup: `bridges-${run}` },
  });

  it("splits the events between two bridges of one $share group, each event handled once", async () => {
    const group = `split-${run}`;
    const counts = new Map<string, number>();
    const links = [0, 1].map(
      (index) =>
        new MqttFleetLink({
          url: mosquittoUrl,
          rootTopic: root,
          clientId: `bridge-${run}-${index}`,
          sharedSubscriptionGroup: group,
          // Acks are signed like every command: the bridges need the machine's key.
          keys: new InMemoryMachineKeys([[machines[0], "cd".repeat(32)]]),
          commandTtlMs: 5_000,
          logger: silentLogger(),
          ackDelayMs: 5,
        }),
    );
    const byLink = [0, 0];
    for (const [index, link] of links.entries()) {
      link.onEvent(async (event) => {
        counts.set(event.payload.eventId, (counts.get(event.payload.eventId) ?? 0) + 1);
        byLink[index] = (byLink[index] ?? 0) + 1;
      });
    }
    const agent = await FakeAgent.connect(mosquittoUrl, root, machines[0], { clientId: `agent-${run}-split` });
    try {
      await Promise.all(links.map((link) => link.start()));
      const events = Array.from({ length: 20 }, () => agent.pong());
      for (const event of events) await agent.event("pong", event);
      await waitFor(() => counts.size === events.length, 5_000, "all events");
      await waitFor(() => new Set(agent.acks().flat()).size === events.length, 5_000, "all acks");
      expect([...counts.values()].every((count) => count === 1)).toBe(true);
      // Mosquitto hands shared subscriptions out round robin: both bridges took a share.
      expect(byLink.every((count) => count > 0)).toBe(true);
    } finally {
      await Promise.all(links.map((link) => link.stop()));
      await agent.close();
    }
  });
});
