import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import YAML from "yaml";
import { type SeqrSandbox, startSeqrSandbox } from "../../backend-bridge/sandbox/seqr-sandbox.ts";
import { openStore } from "../../backend-bridge/store/open-store.ts";
import type { Store } from "../../backend-bridge/store/store.ts";
import { readPhysicalLedger } from "../../hardware/simulators/physical-ledger.ts";
import { BridgeProcess, freePort } from "../bridge/helpers/bridge-process.ts";
import type { PhysicalRecord, SandboxRecord, ScanRecord, StoreRecord } from "./invariants.ts";
import { AgentProcess, MosquittoProcess, pollUntil } from "./processes.ts";
import { ChaosProxy } from "./tcp-proxy.ts";

/**
 * The system under chaos, as an operator would run it: the real bridge (`vend-bridge run`, SQLite store, embedded
 * aedes or an external Mosquitto of our own), real agents (`vend-agent run`, simulated MDB / spiral board / GPIO
 * hardware writing a physical ledger, kiosk screen), each agent's MQTT link through a ChaosProxy, and the SEQR sandbox
 * in this process (SOAP service, UPS caller, customer app, fault injector). The nemesis and the workload act on it
 * through the methods below; `heal`, `quiescence` and `records` end a run.
 */

export type BrokerKind = "embedded" | "mosquitto";

export interface ClusterOptions {
  broker: BrokerKind;
  machines: number;
  /** Log level of the bridge and agents (their last lines are kept for failure messages). */
  logLevel?: "warn" | "info";
  /** How long the simulated motor turns (1.5 s unless said): a test that kills an agent mid-vend wants a long one. */
  vendDurationMs?: number;
}

export const chaosCatalog = {
  currency: "EUR",
  products: {
    A1: { name: "Still water", sku: "WATER-05", priceMinor: 150 },
    A2: { name: "Cola", sku: "COLA-033", priceMinor: 200 },
    B1: { name: "Crisps", sku: "CRISPS-40", priceMinor: 120 },
  },
};

export const sandboxTerminal = { id: "public_test_shop_terminal", password: "12345678" };
const simulatedKinds = ["mdb", "spiral-board", "gpio"] as const;

/** Bridge and agent timers, short so that a run heals within minutes, and consistent with each other. */
export const chaosTimeouts = {
  paymentConfirmMs: 20_000,
  // Never shorter than the command lifetime: an unlock acknowledged late must still be honoured (issue 15 #3).
  unlockAckMs: 15_000,
  commandTtlMs: 15_000,
  statusPollIntervalMs: 1_000,
  sessionMaxMs: 120_000,
  agentSelectionTimeoutMs: 15_000,
  agentPaymentPendingTimeoutMs: 60_000,
  agentKeepaliveSeconds: 5,
};

export interface MachineSlot {
  id: string;
  configFile: string;
  kioskPort: number;
  ledgerFile: string;
  /** The agent's data directory (its journal). */
  dataDir: string;
  proxy: ChaosProxy;
  agent: AgentProcess | undefined;
  /** A restart in progress: the nemesis and heal must not start a second one. */
  restarting?: Promise<void>;
}

export class ChaosCluster {
  readonly options: ClusterOptions;
  readonly dir: string;
  readonly machines: MachineSlot[] = [];
  readonly outages: Array<{ from: number; to: number }> = [];
  sandbox!: SeqrSandbox;
  bridge: BridgeProcess | undefined;
  bridgePaused = false;
  mosquitto: MosquittoProcess | undefined;
  #bridgeDownSince: number | undefined;
  #bridgeRestarting: Promise<void> | undefined;
  #store!: Store;
  #configFile!: string;
  #httpPort!: number;
  #mosquittoPort = 0;

  private constructor(options: ClusterOptions) {
    this.options = options;
    this.dir = mkdtempSync(join(tmpdir(), `vend-chaos-${options.broker}-`));
  }

  static async start(options: ClusterOptions): Promise<ChaosCluster> {
    const cluster = new ChaosCluster(options);
    try {
      await cluster.#start();
    } catch (error) {
      await cluster.close();
      throw error;
    }
    return cluster;
  }

  get machineIds(): string[] {
    return this.machines.map((slot) => slot.id);
  }

  get prices(): Record<string, Record<string, number>> {
    const prices = Object.fromEntries(Object.entries(chaosCatalog.products).map(([s, p]) => [s, p.priceMinor]));
    return Object.fromEntries(this.machineIds.map((id) => [id, prices]));
  }

  async #start(): Promise<void> {
    const { options, dir } = this;
    this.#httpPort = await freePort();
    const brokerPort = await freePort();
    this.sandbox = await startSeqrSandbox({
      port: 0,
      ups: { createPurchaseUrl: `http://127.0.0.1:${this.#httpPort}/seqr/createPurchase`, timeoutMs: 10_000 },
    });
    if (options.broker === "mosquitto") {
      this.#mosquittoPort = brokerPort;
      mkdirSync(join(dir, "mosquitto"));
      this.mosquitto = await MosquittoProcess.start(join(dir, "mosquitto"), brokerPort);
    }
    const secrets = Array.from({ length: options.machines }, (_, index) => ({
      id: `CHAOS${index + 1}`,
      mqttPassword: randomBytes(12).toString("hex"),
      commandKey: randomBytes(32).toString("hex"),
    }));
    const storeUrl = `sqlite:${join(dir, "bridge.db")}`;
    this.#configFile = join(dir, "bridge.yaml");
    writeFileSync(
      this.#configFile,
      YAML.stringify({
        http: {
          host: "127.0.0.1",
          port: this.#httpPort,
          plainHttp: true,
          publicBaseUrl: `http://127.0.0.1:${this.#httpPort}/seqr`,
          rateLimitPerTokenPerMinute: 600,
          rateLimitPerCallerPerMinute: 6_000,
        },
        callerAuth: { mode: "none" },
        seqr: {
          endpointUrl: this.sandbox.soapUrl,
          terminalId: sandboxTerminal.id,
          password: sandboxTerminal.password,
          clientId: "seqr-vend chaos test",
          // Short, so that the outbox lease of a killed bridge (3 x timeout + 5 s) ends within a short run.
          requestTimeoutMs: 2_000,
          commitReservationTimeoutSeconds: 120,
        },
        broker:
          options.broker === "embedded"
            ? { mode: "embedded", tcp: { enabled: true, host: "127.0.0.1", port: brokerPort }, tls: { enabled: false } }
            : { mode: "external", url: `mqtt://127.0.0.1:${brokerPort}` },
        store: { url: storeUrl },
        machines: Object.fromEntries(
          secrets.map((s) => [s.id, { mqttPassword: s.mqttPassword, commandKey: s.commandKey, catalog: chaosCatalog }]),
        ),
        timeouts: {
          paymentConfirmMs: chaosTimeouts.paymentConfirmMs,
          unlockAckMs: chaosTimeouts.unlockAckMs,
          commandTtlMs: chaosTimeouts.commandTtlMs,
          statusPollIntervalMs: chaosTimeouts.statusPollIntervalMs,
          sessionMaxMs: chaosTimeouts.sessionMaxMs,
        },
        log: { level: options.logLevel ?? "warn" },
      }),
    );
    // The bridge and the agents start together (agents retry until the broker is there): start-up is the slow part.
    const bridgeStarted = BridgeProcess.start(this.#configFile, this.#httpPort, () => true, 240_000).then((bridge) => {
      this.bridge = bridge;
    });
    for (const [index, s] of secrets.entries()) {
      const proxy = await ChaosProxy.start({ host: "127.0.0.1", port: brokerPort });
      const kioskPort = await freePort();
      const machineDir = join(dir, s.id);
      mkdirSync(machineDir);
      const ledgerFile = join(machineDir, "physical-ledger.jsonl");
      const configFile = join(machineDir, "agent.yaml");
      const dataDir = join(machineDir, "data");
      writeFileSync(
        configFile,
        YAML.stringify({
          machine: { id: s.id, merchantId: "public_test_shop" },
          mqtt: {
            url: `mqtt://127.0.0.1:${proxy.port}`,
            password: s.mqttPassword,
            keepaliveSeconds: chaosTimeouts.agentKeepaliveSeconds,
            reconnectMinMs: 200,
            reconnectMaxMs: 2_000,
          },
          commandKey: s.commandKey,
          hardware: {
            driver: "simulator",
            simulate: simulatedKinds[index % simulatedKinds.length],
            vendDurationMs: options.vendDurationMs ?? 1_500,
            ledgerFile,
          },
          catalog: chaosCatalog,
          session: {
            mode: "multi-vend",
            selectionTimeoutMs: chaosTimeouts.agentSelectionTimeoutMs,
            paymentPendingTimeoutMs: chaosTimeouts.agentPaymentPendingTimeoutMs,
          },
          display: { renderer: "kiosk", kioskHost: "127.0.0.1", kioskPort },
          dataDir,
          log: { level: options.logLevel ?? "warn" },
        }),
      );
      this.machines.push({ id: s.id, configFile, kioskPort, ledgerFile, dataDir, proxy, agent: undefined });
    }
    await Promise.all([bridgeStarted, ...this.machines.map((slot) => this.restartAgent(slot))]);
    // Opened after the bridge has created and migrated it.
    ({ store: this.#store } = await openStore(storeUrl));
    await pollUntil(
      "every machine online at the bridge",
      () => this.#allOnline(),
      240_000,
      () => this.describe(),
    );
  }

  /** The bridge's store (SQLite), opened beside the bridge process: what a test checks and an operator account. */
  get store(): Store {
    return this.#store;
  }

  slot(id: string): MachineSlot {
    const slot = this.machines.find((candidate) => candidate.id === id);
    if (!slot) throw new Error(`no machine ${id}`);
    return slot;
  }

  // ---- the bridge ------------------------------------------------------------------------------------------------

  async killBridge(): Promise<void> {
    if (this.#bridgeRestarting !== undefined) await this.#bridgeRestarting;
    this.#markBridgeDown();
    this.bridgePaused = false;
    await this.bridge?.kill();
  }

  /** Starts the bridge if it is not running (a kill or a crash), and waits until it is healthy. */
  async restartBridge(): Promise<void> {
    if (this.#bridgeRestarting !== undefined) return this.#bridgeRestarting;
    if (this.bridge && !this.bridge.exitStatus) return;
    this.#markBridgeDown();
    this.#bridgeRestarting = (async () => {
      this.bridge = await BridgeProcess.start(this.#configFile, this.#httpPort, () => true, 240_000);
      this.#markBridgeUp();
    })().finally(() => {
      this.#bridgeRestarting = undefined;
    });
    return this.#bridgeRestarting;
  }

  pauseBridge(): void {
    const pid = this.bridge?.pid;
    if (pid === undefined || this.bridge?.exitStatus || this.bridgePaused) return;
    this.#markBridgeDown();
    process.kill(pid, "SIGSTOP");
    this.bridgePaused = true;
  }

  resumeBridge(): void {
    const pid = this.bridge?.pid;
    if (pid === undefined || !this.bridgePaused) return;
    this.bridgePaused = false;
    if (!this.bridge?.exitStatus) process.kill(pid, "SIGCONT");
    this.#markBridgeUp();
  }

  #markBridgeDown(): void {
    this.#bridgeDownSince ??= Date.now();
  }

  #markBridgeUp(): void {
    if (this.#bridgeDownSince === undefined) return;
    this.outages.push({ from: this.#bridgeDownSince, to: Date.now() });
    this.#bridgeDownSince = undefined;
  }

  // ---- the agents ------------------------------------------------------------------------------------------------

  async killAgent(slot: MachineSlot): Promise<void> {
    if (slot.restarting !== undefined) await slot.restarting;
    await slot.agent?.kill();
  }

  async restartAgent(slot: MachineSlot): Promise<void> {
    if (slot.restarting !== undefined) return slot.restarting;
    if (slot.agent?.alive) return;
    slot.restarting = (async () => {
      slot.agent = await AgentProcess.start(slot.configFile, slot.kioskPort, 240_000);
    })().finally(() => {
      slot.restarting = undefined;
    });
    return slot.restarting;
  }

  // ---- the external broker -----------------------------------------------------------------------------------

  async stopBroker(): Promise<void> {
    await this.mosquitto?.stop();
  }

  async startBroker(): Promise<void> {
    if (this.options.broker !== "mosquitto" || this.mosquitto?.alive) return;
    this.mosquitto = await MosquittoProcess.start(join(this.dir, "mosquitto"), this.#mosquittoPort);
  }

  // ---- the end of a run ------------------------------------------------------------------------------------------

  /** Every fault removed: processes running and resumed, links clean, SEQR well-behaved. */
  async heal(): Promise<void> {
    this.sandbox.faults.clear();
    for (const slot of this.machines) slot.proxy.heal();
    await this.startBroker();
    this.resumeBridge();
    await this.restartBridge();
    for (const slot of this.machines) slot.agent?.resume();
    await Promise.all(this.machines.map((slot) => this.restartAgent(slot)));
  }

  /** Undefined once nothing is going on any more; otherwise what still is (for waiting and for failure messages). */
  async busy(): Promise<string | undefined> {
    if (!(await this.#allOnline())) return "not every machine is online at the bridge";
    const open = await this.#store.listOpenPurchases();
    if (open.length > 0) return `open purchases: ${open.map((p) => `${p.machineId}:${p.state}`).join(", ")}`;
    const pending = (await this.#store.listOutbox()).filter((item) => item.status === "pending");
    if (pending.length > 0) return `pending outbox: ${pending.map((item) => item.kind).join(", ")}`;
    for (const slot of this.machines) {
      const screen = await slot.agent?.screen();
      if (screen?.name !== "idle") return `machine ${slot.id} shows ${screen?.name ?? "nothing"}`;
    }
    return undefined;
  }

  /** Waits, event-driven, until `busy()` says nothing is going on; returns what was still going on at the deadline. */
  async quiescence(timeoutMs: number): Promise<string | undefined> {
    let last: string | undefined;
    try {
      await pollUntil(
        "quiescence",
        async () => {
          last = await this.busy();
          return last === undefined;
        },
        timeoutMs,
        () => "",
        500,
      );
      return undefined;
    } catch {
      return last ?? "unknown";
    }
  }

  /** The three records the checker reads: SEQR's, the bridge's store and the physical ledgers. */
  async records(scans: readonly ScanRecord[]): Promise<{
    sandbox: SandboxRecord;
    store: StoreRecord;
    physical: PhysicalRecord;
  }> {
    const invoices = this.sandbox.ledger.list().map((invoice) => structuredClone(invoice));
    const purchases = await this.#store.listPurchases({ limit: 1_000_000 });
    const vends = (await Promise.all(purchases.map((p) => this.#store.listVends(p.sessionId)))).flat();
    const pendingOutbox = (await this.#store.listOutbox()).filter((item) => item.status === "pending");
    const unavailable: Record<string, string> = {};
    for (const id of this.machineIds) {
      const reason = await this.#store.machineUnavailableReason(id);
      if (reason !== undefined) unavailable[id] = reason;
    }
    return {
      sandbox: { invoices, scans: [...scans] },
      store: { purchases, vends, pendingOutbox, unavailable },
      physical: {
        drops: Object.fromEntries(this.machines.map((slot) => [slot.id, readPhysicalLedger(slot.ledgerFile)])),
      },
    };
  }

  async #allOnline(): Promise<boolean> {
    if (!this.bridge) return false;
    try {
      const response = await fetch(this.bridge.healthUrl, {
        signal: AbortSignal.timeout(2_000),
      });
      const body = (await response.json()) as { machinesOnline: number };
      return response.status === 200 && body.machinesOnline >= this.machines.length;
    } catch {
      return false;
    }
  }

  /** The processes' last log lines, for a failure message. */
  describe(): string {
    const parts = [`--- bridge ---\n${this.bridge?.output().split("\n").slice(-40).join("\n") ?? ""}`];
    for (const slot of this.machines) {
      parts.push(`--- ${slot.id} ---\n${slot.agent?.output().split("\n").slice(-20).join("\n") ?? ""}`);
    }
    if (this.mosquitto) parts.push(`--- mosquitto ---\n${this.mosquitto.output().split("\n").slice(-10).join("\n")}`);
    return parts.join("\n");
  }

  async close(): Promise<void> {
    this.resumeBridge();
    await this.bridge?.stop().catch(() => undefined);
    for (const slot of this.machines) {
      await slot.agent?.kill().catch(() => undefined);
      await slot.proxy.close().catch(() => undefined);
    }
    await this.mosquitto?.stop().catch(() => undefined);
    await this.#store?.close().catch(() => undefined);
    await this.sandbox?.close().catch(() => undefined);
    if (!process.env.CHAOS_KEEP_DIR) rmSync(this.dir, { recursive: true, force: true });
  }
}
