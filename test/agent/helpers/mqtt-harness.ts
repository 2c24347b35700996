import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt, { type MqttClient } from "mqtt";
import { type Agent, createAgent } from "../../../agent/agent.ts";
import { type EmbeddedBroker, startEmbeddedBroker } from "../../../backend-bridge/broker/embedded-broker.ts";
import { InMemoryMachineCredentials } from "../../../backend-bridge/broker/machine-credentials.ts";
import { hashPassword } from "../../../backend-bridge/broker/password-hash.ts";
import type { FleetEvent } from "../../../backend-bridge/fleet/fleet-link.ts";
import { MqttFleetLink } from "../../../backend-bridge/fleet/mqtt-fleet-link.ts";
import { type AgentConfig, agentConfigSchema } from "../../../config/schema/agent.ts";
import { createLogger, type Logger, silentLogger } from "../../../platform/logger.ts";
import type { EventName } from "../../../protocol/messages.ts";
import { FakeMechanism } from "./fake-mechanism.ts";
import { testCatalog } from "./session-harness.ts";

/** Unique names per test run: other helpers' tests share the same Mosquitto. */
export function uniqueRoot(): string {
  return `test-${randomBytes(4).toString("hex")}/v1`;
}
export function uniqueMachineId(): string {
  return `M-${randomBytes(5).toString("hex")}`;
}

export const bridgeUser = { username: "bridge", password: "bridge-secret" };

/** The embedded aedes of the bridge (issue 5b) with one machine's credentials, restartable on the same port. */
export class EmbeddedBrokerFixture {
  broker: EmbeddedBroker | undefined;
  port = 0;
  readonly credentials = new InMemoryMachineCredentials();
  readonly rootTopic: string;
  constructor(rootTopic: string) {
    this.rootTopic = rootTopic;
  }

  addMachine(machineId: string, password: string): void {
    this.credentials.set(machineId, { passwordHash: hashPassword(password, { log2N: 10, r: 8, p: 1 }) });
  }

  async start(): Promise<void> {
    this.broker = await startEmbeddedBroker({
      rootTopic: this.rootTopic,
      credentials: this.credentials,
      bridgeUser,
      tcp: { host: "127.0.0.1", port: this.port },
      drainTimeoutMs: 10_000,
      maxTopicLevels: 16,
      logger: silentLogger(),
    });
    this.port = this.broker.tcpPort ?? 0;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    await this.broker?.close();
    this.broker = undefined;
  }
}

/**
 * The bridge's side for the agent's tests: 5b's MqttFleetLink with a durable-store stand-in (a Map keyed by eventId)
 * as its FleetEventHandler, plus a raw bridge-user client for hand-crafted commands (unsigned, expired, replayed).
 */
export class BridgeSide {
  readonly store = new Map<string, FleetEvent>();
  /** Every delivery the handler saw, duplicates included. */
  deliveries = 0;
  readonly fleet: MqttFleetLink;
  raw: MqttClient | undefined;

  readonly url: string;
  readonly rootTopic: string;
  readonly credentials: { username: string; password: string } | undefined;

  constructor(
    url: string,
    rootTopic: string,
    keys: Record<string, string>,
    credentials?: { username: string; password: string },
  ) {
    this.url = url;
    this.rootTopic = rootTopic;
    this.credentials = credentials;
    this.fleet = new MqttFleetLink({
      url,
      rootTopic,
      ...(credentials ?? {}),
      // Looked up at send time, so machines added later by a test are known too.
      keys: { commandKey: (machineId: string) => keys[machineId] },
      commandTtlMs: 30_000,
      logger: silentLogger(),
      reconnectPeriodMs: 200,
      connectWaitMs: 5_000,
    });
    this.fleet.onEvent(async (event) => {
      this.deliveries += 1;
      // The store's unique key is the eventId: a redelivered event is recognised, never stored twice.
      if (!this.store.has(event.payload.eventId)) this.store.set(event.payload.eventId, event);
    });
  }

  async start(): Promise<void> {
    await this.fleet.start();
    this.raw = mqtt.connect(this.url, {
      clientId: `bridge-raw-${randomBytes(4).toString("hex")}`,
      ...(this.credentials ?? {}),
      reconnectPeriod: 200,
    });
    await new Promise<void>((resolve, reject) => {
      this.raw?.once("connect", () => resolve());
      this.raw?.once("error", reject);
    });
  }

  events<N extends EventName>(name: N): FleetEvent<N>[] {
    return [...this.store.values()].filter((event): event is FleetEvent<N> => event.name === name);
  }

  async publishRaw(topic: string, payload: unknown): Promise<void> {
    await this.raw?.publishAsync(topic, JSON.stringify(payload), { qos: 1 });
  }

  async stop(): Promise<void> {
    await this.fleet.stop();
    await this.raw?.endAsync(true);
  }
}

export function agentConfig(overrides: {
  machineId: string;
  url: string;
  rootTopic: string;
  password?: string;
  commandKey: string;
  dataDir: string;
  mode?: "single-vend" | "multi-vend";
}): AgentConfig {
  return agentConfigSchema.parse({
    machine: { id: overrides.machineId, merchantId: "acme" },
    mqtt: {
      url: overrides.url,
      rootTopic: overrides.rootTopic,
      ...(overrides.password ? { password: overrides.password } : {}),
      reconnectMinMs: 100,
      reconnectMaxMs: 1_000,
    },
    commandKey: overrides.commandKey,
    catalog: testCatalog,
    session: { mode: overrides.mode ?? "single-vend" },
    dataDir: overrides.dataDir,
    log: { level: "silent" },
  });
}

export interface InProcessAgent {
  agent: Agent;
  mechanism: FakeMechanism;
  config: AgentConfig;
  dataDir: string;
  cleanup(): Promise<void>;
}

export async function startInProcessAgent(
  config: Omit<Parameters<typeof agentConfig>[0], "dataDir">,
): Promise<InProcessAgent> {
  const dataDir = mkdtempSync(join(tmpdir(), "vend-agent-"));
  const full = agentConfig({ ...config, dataDir });
  const mechanism = new FakeMechanism({ vendMs: 10 });
  const agent = createAgent({
    config: full,
    logger: testLogger(),
    mechanism,
    stopVendWaitMs: 2_000,
    resendAfterMs: 1_000,
  });
  await agent.start();
  return {
    agent,
    mechanism,
    config: full,
    dataDir,
    cleanup: async () => {
      await agent.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Silent unless TEST_AGENT_LOG names a level (debugging a failing test). */
export function testLogger(): Logger {
  const level = process.env.TEST_AGENT_LOG;
  return level ? createLogger({ name: "test-agent", level: level as "debug" }) : silentLogger();
}
