import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import type { BridgeConfig } from "../../config/schema/bridge.ts";
import type { Logger } from "../../platform/logger.ts";
import type { EmbeddedBrokerOptions } from "./embedded-broker.ts";
import type { MachineCredentials } from "./machine-credentials.ts";

/** Turns `broker` (mode embedded) and `bridgeMqtt` of the bridge's configuration into EmbeddedBrokerOptions. */

export class BrokerConfigError extends Error {
  override name = "BrokerConfigError";
}

/**
 * The bridge's own MQTT password. With the embedded broker and none configured, a random one per process: the
 * bridge is then the only one that can log in as itself, and nobody has to manage the secret.
 */
export function bridgeMqttPassword(config: BridgeConfig): string | undefined {
  if (config.bridgeMqtt.password !== undefined) return config.bridgeMqtt.password;
  return config.broker.mode === "embedded" ? randomBytes(24).toString("base64url") : undefined;
}

export function embeddedBrokerOptionsFromConfig(
  config: BridgeConfig,
  deps: {
    credentials: MachineCredentials;
    bridgePassword: string | undefined;
    logger: Logger;
    readFile?: (path: string) => Buffer;
  },
): EmbeddedBrokerOptions {
  const broker = config.broker;
  if (broker.mode !== "embedded") throw new BrokerConfigError("broker.mode is not embedded");
  const username = config.bridgeMqtt.username;
  if (Object.hasOwn(config.machines, username)) {
    throw new BrokerConfigError(`machines.${username}: a machine cannot have the bridge's MQTT username`);
  }
  const read = deps.readFile ?? ((path: string) => readFileSync(path));
  const load = (key: string, path: string) => {
    try {
      return read(path);
    } catch (error) {
      throw new BrokerConfigError(`broker.tls.${key}: cannot read ${path}: ${(error as Error).message}`);
    }
  };
  let tls: EmbeddedBrokerOptions["tls"];
  if (broker.tls.enabled) {
    if (!broker.tls.certFile || !broker.tls.keyFile) {
      throw new BrokerConfigError("broker.tls.enabled needs broker.tls.certFile and broker.tls.keyFile");
    }
    tls = {
      host: broker.tls.host,
      port: broker.tls.port,
      cert: load("certFile", broker.tls.certFile),
      key: load("keyFile", broker.tls.keyFile),
      ...(broker.tls.caFile ? { ca: load("caFile", broker.tls.caFile) } : {}),
    };
  }
  if (!broker.tcp.enabled && !tls)
    throw new BrokerConfigError("the embedded broker needs broker.tcp or broker.tls enabled");
  return {
    rootTopic: config.bridgeMqtt.rootTopic,
    credentials: deps.credentials,
    bridgeUser: { username, ...(deps.bridgePassword !== undefined ? { password: deps.bridgePassword } : {}) },
    ...(broker.tcp.enabled ? { tcp: { host: broker.tcp.host, port: broker.tcp.port } } : {}),
    ...(tls ? { tls } : {}),
    drainTimeoutMs: broker.drainTimeoutMs,
    maxTopicLevels: broker.maxTopicLevels,
    logger: deps.logger.child({ module: "broker" }),
  };
}
