import mqtt, { type MqttClient } from "mqtt";
import { type BridgeApp, createBridgeApp } from "../../backend-bridge/bridge-app.ts";
import { MqttFleetLink } from "../../backend-bridge/fleet/mqtt-fleet-link.ts";
import { MachineRegistry } from "../../backend-bridge/registry/machine-registry.ts";
import { systemClock } from "../../platform/clock.ts";
import { silentLogger } from "../../platform/logger.ts";
import { configCommand, decodePayload } from "../../protocol/messages.ts";
import { machineTopics } from "../../protocol/topics.ts";
import {
  bridgeUser,
  EmbeddedBrokerFixture,
  type InProcessAgent,
  startInProcessAgent,
  uniqueRoot,
} from "../agent/helpers/mqtt-harness.ts";
import { testCatalog } from "../agent/helpers/session-harness.ts";
import { FakeSeqr } from "../bridge/helpers/fake-seqr.ts";
import { testConfig } from "../bridge/helpers/harness.ts";
import { createTestStore, type TestStore } from "../bridge/helpers/test-stores.ts";
import { eventually } from "../helpers/eventually.ts";
import { addOperator } from "./console-client.ts";

/**
 * The catalog page against the real thing: the bridge's app over SQLite with its MQTT fleet link on the embedded
 * broker, a store machine "S1" and a real agent (in process, fake mechanism) selling with the same catalog. A raw
 * client of the bridge's user records every cmd/config on the wire, to check its signature as an agent would.
 */
export const s1Key = "5a".repeat(32);
const s1Password = "s1-mqtt-password";

export class CatalogAgentBed {
  readonly root = uniqueRoot();
  readonly broker = new EmbeddedBrokerFixture(this.root);
  readonly configsOnWire: unknown[] = [];
  testStore!: TestStore;
  app!: BridgeApp;
  fleet!: MqttFleetLink;
  agent!: InProcessAgent;
  #tap!: MqttClient;

  get base(): string {
    return this.app.admin.url;
  }

  static async start(): Promise<CatalogAgentBed> {
    const bed = new CatalogAgentBed();
    await bed.#start();
    return bed;
  }

  async #start(): Promise<void> {
    this.broker.addMachine("S1", s1Password);
    await this.broker.start();
    this.testStore = await createTestStore("sqlite");
    const store = this.testStore.store;
    const config = testConfig();
    const registry = new MachineRegistry({ machines: config.machines, store, clock: systemClock });
    await registry.add("S1", { name: "Lobby (store)", commandKey: s1Key, catalog: testCatalog });
    this.fleet = new MqttFleetLink({
      url: this.broker.url,
      rootTopic: this.root,
      ...bridgeUser,
      keys: registry,
      commandTtlMs: 30_000,
      logger: silentLogger(),
      reconnectPeriodMs: 200,
      connectWaitMs: 5_000,
    });
    this.app = createBridgeApp({
      config,
      store,
      seqr: new FakeSeqr(),
      fleet: this.fleet,
      clock: systemClock,
      logger: silentLogger(),
      registry,
      defaultMetrics: false,
    });
    await this.app.start();
    await this.fleet.start();
    await addOperator(store);
    this.#tap = mqtt.connect(this.broker.url, { ...bridgeUser, clientId: "catalog-tap", reconnectPeriod: 200 });
    this.#tap.on("message", (_topic, payload) => {
      const decoded = decodePayload(configCommand, payload);
      this.configsOnWire.push(decoded.ok ? decoded.value : { invalid: decoded.error });
    });
    await new Promise<void>((resolve) => this.#tap.once("connect", () => resolve()));
    await this.#tap.subscribeAsync(machineTopics(this.root, "S1").command("config"), { qos: 1 });
    await this.startAgent();
    // The agent's first retained state has reached the bridge: it reports the catalog it sells with.
    await eventually(() => {
      if (this.fleet.lastState("S1")?.catalogHash === undefined) throw new Error("no state from S1 yet");
    }, 30_000);
  }

  /** A new agent for S1 (a fresh data dir: it starts with its config file's catalog, the test catalog). */
  async startAgent(): Promise<void> {
    this.agent = await startInProcessAgent({
      machineId: "S1",
      url: this.broker.url,
      rootTopic: this.root,
      password: s1Password,
      commandKey: s1Key,
    });
  }

  async close(): Promise<void> {
    await this.agent?.cleanup().catch(() => undefined);
    await this.#tap?.endAsync(true).catch(() => undefined);
    await this.app?.stop().catch(() => undefined);
    await this.fleet?.stop().catch(() => undefined);
    await this.broker.stop().catch(() => undefined);
    await this.testStore?.cleanup();
  }
}
