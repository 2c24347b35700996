import { randomBytes } from "node:crypto";
import type { Catalog } from "../protocol/catalog.ts";

/**
 * Everything the demo generates before starting anything: one SEQR terminal in the sandbox, the bridge's config, and
 * two simulated machines (one MDB vending machine, one spiral board) with fresh keys and passwords. Pure: the caller
 * writes the files and starts the processes.
 */

export interface DemoPorts {
  bridgeHttp: number;
  /** The bridge's /healthz and /metrics (loopback). */
  bridgeAdmin: number;
  broker: number;
  kiosk: Record<string, number>;
}

export interface DemoMachine {
  id: string;
  name: string;
  simulate: "mdb" | "spiral-board" | "gpio";
  mode: "single-vend" | "multi-vend";
  /** MDB always idle: the customer may also press a product first and then pay exactly its price. */
  selectionFirst?: boolean;
  catalog: Catalog;
  commandKey: string;
  mqttPassword: string;
}

export const demoMerchantId = "seqr-vend-demo";
export const demoCustomer = { msisdn: "46700000001", pin: "1234", name: "Demo customer" } as const;
export const demoTerminal = { id: "demo_terminal_0001", password: randomHex(12) } as const;
/** The RESELLERUSER the bridge closes SEQR's periods as: `vend-bridge report reconcile` runs against the sandbox. */
export const demoResellerUser = { id: "seqr-vend-demo", userId: "9900", password: randomHex(12) } as const;

function randomHex(bytes: number): string {
  return randomBytes(bytes).toString("hex");
}

export function demoMachines(): DemoMachine[] {
  return [
    {
      id: "DEMO-MDB",
      name: "Drinks (MDB vending machine)",
      simulate: "mdb",
      mode: "multi-vend",
      selectionFirst: true,
      catalog: {
        currency: "EUR",
        products: {
          A1: { name: "Still water", sku: "WATER-05", priceMinor: 150, mdbItem: 11 },
          A2: { name: "Cola", sku: "COLA-033", priceMinor: 200, mdbItem: 12 },
          B1: { name: "Chocolate bar", sku: "CHOC-50", priceMinor: 120, mdbItem: 21 },
        },
      },
      commandKey: randomHex(32),
      mqttPassword: randomHex(16),
    },
    {
      id: "DEMO-SPIRAL",
      name: "Snacks (spiral board)",
      simulate: "spiral-board",
      mode: "single-vend",
      catalog: {
        currency: "EUR",
        products: {
          "11": { name: "Crisps", sku: "CRISPS", priceMinor: 180 },
          "12": { name: "Apple", sku: "APPLE", priceMinor: 90 },
          "13": { name: "Sandwich", sku: "SANDWICH", priceMinor: 450 },
        },
      },
      commandKey: randomHex(32),
      mqttPassword: randomHex(16),
    },
  ];
}

/** The sandbox's UPS authenticates to the demo bridge with basic auth, as a real caller must (issue 18). */
export interface DemoCaller {
  username: string;
  password: string;
}

/** Where the sandbox's UPS posts createPurchase, with the demo caller's credentials in the URL (basic auth). */
export function demoCreatePurchaseUrl(host: string, port: number, caller: DemoCaller): string {
  const url = new URL(`http://${host}:${port}/seqr/createPurchase`);
  url.username = caller.username;
  url.password = caller.password;
  return url.toString();
}

export function bridgeConfig(
  ports: DemoPorts,
  soapUrl: string,
  dataDir: string,
  machines: DemoMachine[],
  bridgeMqttPassword: string,
  caller: DemoCaller,
) {
  return {
    http: {
      host: "127.0.0.1",
      port: ports.bridgeHttp,
      // The demo runs on loopback with no certificate; a real bridge serves HTTPS (or sits behind a TLS proxy).
      plainHttp: true,
      publicBaseUrl: `http://127.0.0.1:${ports.bridgeHttp}/seqr`,
    },
    callerAuth: { mode: "basic", username: caller.username, password: caller.password },
    admin: { host: "127.0.0.1", port: ports.bridgeAdmin },
    seqr: {
      endpointUrl: soapUrl,
      terminalId: demoTerminal.id,
      password: demoTerminal.password,
      clientId: "seqr-vend demo",
      resellerUser: demoResellerUser,
    },
    // Plain MQTT on loopback: the demo has no certificate for the agents to verify; nothing leaves this computer.
    broker: {
      mode: "embedded",
      tcp: { enabled: true, host: "127.0.0.1", port: ports.broker },
      tls: { enabled: false },
    },
    bridgeMqtt: { password: bridgeMqttPassword },
    store: { url: `sqlite:${dataDir}/bridge.db` },
    machines: Object.fromEntries(
      machines.map((machine) => [
        machine.id,
        {
          name: machine.name,
          mqttPassword: machine.mqttPassword,
          commandKey: machine.commandKey,
          catalog: machine.catalog,
        },
      ]),
    ),
    timeouts: { paymentConfirmMs: 180_000 },
    log: { level: "info" },
  };
}

export function agentConfig(ports: DemoPorts, dataDir: string, machine: DemoMachine) {
  return {
    machine: { id: machine.id, merchantId: demoMerchantId, name: machine.name },
    mqtt: {
      url: `mqtt://127.0.0.1:${ports.broker}`,
      password: machine.mqttPassword,
      reconnectMinMs: 500,
      reconnectMaxMs: 5_000,
    },
    commandKey: machine.commandKey,
    hardware: {
      driver: "simulator",
      simulate: machine.simulate,
      vendDurationMs: 1_500,
      ...(machine.selectionFirst ? { alwaysIdle: true, vendTimeoutS: 90 } : {}),
    },
    catalog: machine.catalog,
    session: { mode: machine.mode, selectionTimeoutMs: 60_000 },
    display: { renderer: "kiosk", kioskHost: "127.0.0.1", kioskPort: ports.kiosk[machine.id] ?? 0 },
    dataDir: `${dataDir}/${machine.id}`,
    log: { level: "info" },
  };
}
