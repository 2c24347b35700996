import { randomUUID } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { signCommand } from "../../protocol/signing.ts";
import { machineTopics } from "../../protocol/topics.ts";
import { hasService, mosquittoUrl } from "../helpers/system-tools.ts";
import {
  BridgeSide,
  bridgeUser,
  EmbeddedBrokerFixture,
  type InProcessAgent,
  startInProcessAgent,
  uniqueMachineId,
  uniqueRoot,
} from "./helpers/mqtt-harness.ts";
import { until } from "./helpers/session-harness.ts";

/**
 * The agent against a real broker and the bridge's fleet link: the embedded aedes in-process (issue 5b's broker, with
 * per-machine passwords and its ACL) and the real Mosquitto on 127.0.0.1:1883 (anonymous, unique root per run).
 */

const commandKey = "ab".repeat(32);
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

interface Setup {
  machineId: string;
  rootTopic: string;
  bridge: BridgeSide;
  agent: InProcessAgent;
  broker?: EmbeddedBrokerFixture;
}

async function setupEmbedded(mode: "single-vend" | "multi-vend" = "single-vend"): Promise<Setup> {
  const rootTopic = uniqueRoot();
  const machineId = uniqueMachineId();
  const broker = new EmbeddedBrokerFixture(rootTopic);
  broker.addMachine(machineId, "machine-secret");
  await broker.start();
  cleanups.push(() => broker.stop());
  const bridge = new BridgeSide(broker.url, rootTopic, { [machineId]: commandKey }, bridgeUser);
  await bridge.start();
  cleanups.push(() => bridge.stop());
  const agent = await startInProcessAgent({
    machineId,
    url: broker.url,
    rootTopic,
    password: "machine-secret",
    commandKey,
    mode,
  });
  cleanups.push(() => agent.cleanup());
  await until(() => bridge.fleet.isOnline(machineId), 5_000, "machine online");
  return { machineId, rootTopic, bridge, agent, broker };
}

async function setupMosquitto(mode: "single-vend" | "multi-vend" = "single-vend"): Promise<Setup> {
  const rootTopic = uniqueRoot();
  const machineId = uniqueMachineId();
  const bridge = new BridgeSide(mosquittoUrl, rootTopic, { [machineId]: commandKey });
  await bridge.start();
  cleanups.push(() => bridge.stop());
  const agent = await startInProcessAgent({ machineId, url: mosquittoUrl, rootTopic, commandKey, mode });
  cleanups.push(() => agent.cleanup());
  await until(() => bridge.fleet.isOnline(machineId), 5_000, "machine online");
  return { machineId, rootTopic, bridge, agent };
}

const brokers: [string, (mode?: "single-vend" | "multi-vend") => Promise<Setup>, boolean][] = [
  ["embedded aedes", setupEmbedded, true],
  ["Mosquitto 127.0.0.1:1883", setupMosquitto, await hasService("Mosquitto", "127.0.0.1", 1883)],
];

for (const [brokerName, setup, available] of brokers) {
  describe.runIf(available)(`agent over ${brokerName}`, () => {
    it("answers ping with pong; the bridge acknowledges and the outbox empties", async () => {
      const s = await setup();
      const commandId = await s.bridge.fleet.send(s.machineId, "ping", {});
      await until(() => s.bridge.events("pong").length === 1, 5_000, "pong");
      expect(s.bridge.events("pong")[0]?.payload.commandId).toBe(commandId);
      await until(() => s.agent.agent.journal?.state.outbox.size === 0, 5_000, "outbox empty");
      expect(s.bridge.fleet.lastState(s.machineId)?.screen).toBe("idle");
    });

    it("a signed unlock vends once, and every event reaches the store exactly once", async () => {
      const s = await setup();
      await s.bridge.fleet.send(s.machineId, "unlock", { sessionId: "sess-1", budgetMinor: 500, currency: "EUR" });
      await until(() => s.bridge.events("unlocked").length === 1, 5_000, "unlocked");
      await until(() => s.bridge.fleet.lastState(s.machineId)?.screen === "choose-product", 5_000, "choose screen");
      s.agent.mechanism.select({ selection: "A2" });
      await until(() => s.bridge.events("session-ended").length === 1, 5_000, "session-ended");
      expect(s.agent.mechanism.vends).toEqual([{ selection: "A2", priceMinor: 200 }]);
      expect(s.bridge.events("vended")).toHaveLength(1);
      expect(s.bridge.events("vended")[0]?.payload).toMatchObject({
        sessionId: "sess-1",
        priceMinor: 200,
        sku: "COLA",
      });
      expect(s.bridge.events("session-ended")[0]?.payload).toMatchObject({ vendedCount: 1, vendedTotalMinor: 200 });
      await until(() => s.agent.agent.journal?.state.outbox.size === 0, 5_000, "outbox empty");
    });

    it("refuses unsigned, expired and replayed unlocks with command-rejected, and unlocks nothing", async () => {
      const s = await setup();
      const topics = machineTopics(s.rootTopic, s.machineId);
      const now = Date.now();
      const body = { sessionId: "sess-x", budgetMinor: 500, currency: "EUR" };
      const unsigned = {
        ...body,
        commandId: `u-${randomUUID()}`,
        issuedAt: now,
        expiresAt: now + 30_000,
        signature: "0".repeat(64),
      };
      await s.bridge.publishRaw(topics.command("unlock"), unsigned);
      const expiredBody = { ...body, commandId: `e-${randomUUID()}`, issuedAt: now - 60_000, expiresAt: now - 30_000 };
      const expired = { ...expiredBody, signature: signCommand(commandKey, s.machineId, "unlock", expiredBody) };
      await s.bridge.publishRaw(topics.command("unlock"), expired);
      await until(() => s.bridge.events("command-rejected").length === 2, 5_000, "two rejections");
      const reasons = s.bridge
        .events("command-rejected")
        .map((event) => [event.payload.commandId, event.payload.reason]);
      expect(reasons).toEqual(
        expect.arrayContaining([
          [unsigned.commandId, "bad-signature"],
          [expired.commandId, "expired"],
        ]),
      );
      // A replay of a genuine unlock: the first one works (and its session ends), the second is refused.
      const commandId = `r-${randomUUID()}`;
      await s.bridge.fleet.send(s.machineId, "unlock", { ...body, sessionId: "sess-r" }, { commandId });
      await until(() => s.bridge.events("unlocked").length === 1, 5_000, "unlocked");
      await s.bridge.fleet.send(s.machineId, "cancel", { sessionId: "sess-r", reason: "operator" });
      await until(() => s.bridge.events("session-ended").length === 1, 5_000, "ended");
      await s.bridge.fleet.send(s.machineId, "unlock", { ...body, sessionId: "sess-r" }, { commandId });
      await until(() => s.bridge.events("command-rejected").length === 3, 5_000, "replay refused");
      expect(s.bridge.events("command-rejected").at(-1)?.payload).toMatchObject({ commandId, reason: "replayed" });
      expect(s.agent.mechanism.openSessions).toEqual([500]);
      expect(s.bridge.events("unlocked")).toHaveLength(1);
    });
  });
}

describe("agent over the embedded aedes, broker restarted mid-session", () => {
  it("events of a vend made while the broker was down reach the store exactly once after it comes back", async () => {
    const s = await setupEmbedded("multi-vend");
    const broker = s.broker;
    if (!broker) throw new Error("no broker");
    await s.bridge.fleet.send(s.machineId, "unlock", { sessionId: "sess-b", budgetMinor: 1_000, currency: "EUR" });
    await until(() => s.bridge.events("unlocked").length === 1, 5_000, "unlocked");
    s.agent.mechanism.select({ selection: "A1" });
    await until(() => s.bridge.events("vended").length === 1, 5_000, "first vend");

    await broker.stop(); // the broker goes away mid-session
    s.agent.mechanism.select({ selection: "B1" }); // the customer goes on buying
    await until(() => s.agent.mechanism.vends.length === 2, 5_000, "second vend");
    await until(() => s.agent.agent.journal?.state.session?.vendedCount === 2, 5_000, "journaled");
    expect(s.agent.agent.journal?.state.outbox.size).toBeGreaterThan(0);
    await broker.start(); // same port: agent and bridge reconnect with backoff
    await until(() => s.bridge.events("vended").length === 2, 10_000, "second vended resent");
    s.agent.mechanism.emit("sessionClosedByMachine", "customer");
    await until(() => s.bridge.events("session-ended").length === 1, 10_000, "session ended");
    expect(s.bridge.events("session-ended")[0]?.payload).toMatchObject({
      vendedCount: 2,
      vendedTotalMinor: 270,
      reason: "customer-done",
    });
    const vendIds = s.bridge.events("vended").map((event) => event.payload.vendId);
    expect(new Set(vendIds).size).toBe(2);
    expect(s.agent.mechanism.vends).toHaveLength(2);
    await until(() => s.agent.agent.journal?.state.outbox.size === 0, 10_000, "outbox empty");
    await until(() => s.bridge.fleet.isOnline(s.machineId), 5_000, "online again");
  });

  it("a graceful stop during a vend lets it finish, reports it, ends the session (shutdown) and goes offline", async () => {
    const s = await setupEmbedded("multi-vend");
    s.agent.mechanism.vendMs = 400;
    await s.bridge.fleet.send(s.machineId, "unlock", { sessionId: "sess-t", budgetMinor: 1_000, currency: "EUR" });
    await until(() => s.bridge.events("unlocked").length === 1, 5_000, "unlocked");
    s.agent.mechanism.select({ selection: "A1" });
    await until(() => s.bridge.events("vend-started").length === 1, 5_000, "vend started");
    await s.agent.agent.stop(); // SIGTERM's path
    expect(s.bridge.events("vended")).toHaveLength(1);
    expect(s.bridge.events("session-ended")[0]?.payload).toMatchObject({ reason: "shutdown", vendedCount: 1 });
    expect(s.agent.agent.journal?.state.outbox.size).toBe(0);
    await until(() => !s.bridge.fleet.isOnline(s.machineId), 5_000, "offline");
  });

  it("publishes offline (retained) on a graceful stop", async () => {
    const s = await setupEmbedded();
    await s.agent.agent.stop();
    await until(() => !s.bridge.fleet.isOnline(s.machineId), 5_000, "offline");
  });
});
