import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import {
  type EmbeddedBroker,
  type EmbeddedBrokerOptions,
  startEmbeddedBroker,
} from "../../backend-bridge/broker/embedded-broker.ts";
import { InMemoryMachineCredentials } from "../../backend-bridge/broker/machine-credentials.ts";
import { hashPassword, type ScryptCost } from "../../backend-bridge/broker/password-hash.ts";
import { silentLogger } from "../../platform/logger.ts";

/** Cheap scrypt for tests: the cost is encoded in the hash, production keeps the default. */
export const testScryptCost: ScryptCost = { log2N: 10, r: 8, p: 1 };

export const bridgeUser = { username: "vend-bridge", password: "bridge-password-123" };

export function testCredentials(machines: Record<string, string>): InMemoryMachineCredentials {
  const credentials = new InMemoryMachineCredentials();
  for (const [id, password] of Object.entries(machines)) {
    credentials.set(id, { passwordHash: hashPassword(password, testScryptCost) });
  }
  return credentials;
}

export function startTestBroker(overrides: Partial<EmbeddedBrokerOptions> = {}): Promise<EmbeddedBroker> {
  return startEmbeddedBroker({
    rootTopic: "vending/v1",
    credentials: testCredentials({}),
    bridgeUser,
    tcp: { host: "127.0.0.1", port: 0 },
    drainTimeoutMs: 5_000,
    maxTopicLevels: 8,
    logger: silentLogger(),
    ...overrides,
  });
}

export type ConnectResult = { ok: true; client: MqttClient } | { ok: false; code: number | undefined; message: string };

/** Connects once (no reconnect) and reports the CONNACK refusal code instead of throwing. */
export async function tryConnect(url: string, options: IClientOptions): Promise<ConnectResult> {
  try {
    const client = await mqtt.connectAsync(url, {
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout: 5_000,
      clean: true,
      ...options,
    });
    return { ok: true, client };
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    return { ok: false, code: typeof code === "number" ? code : undefined, message: String(error) };
  }
}

export async function connectOk(url: string, options: IClientOptions): Promise<MqttClient> {
  const result = await tryConnect(url, options);
  if (!result.ok) throw new Error(`connect failed: ${result.message} (code ${result.code})`);
  return result.client;
}

export function closed(client: MqttClient, timeoutMs = 3_000): Promise<boolean> {
  if (!client.connected) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    client.once("close", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Collects messages of a client per topic. */
export function collect(client: MqttClient): { topic: string; payload: string; retain: boolean }[] {
  const seen: { topic: string; payload: string; retain: boolean }[] = [];
  client.on("message", (topic, payload, packet) =>
    seen.push({ topic, payload: payload.toString(), retain: packet.retain }),
  );
  return seen;
}

export async function waitFor(check: () => boolean, timeoutMs = 3_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The QoS the broker granted for one filter, 128 when it refused it (MQTT.js turns a refusal into an error). */
export function grantedQos(client: MqttClient, filter: string, qos: 0 | 1 = 1): Promise<number> {
  return new Promise((resolve, reject) => {
    client.subscribe(filter, { qos }, (error, granted) => {
      if (error) {
        const granted = (error as { packet?: { granted?: unknown[] } }).packet?.granted;
        if (granted?.[0] === 128) resolve(128);
        else reject(error);
        return;
      }
      resolve(granted?.[0]?.qos ?? -1);
    });
  });
}
