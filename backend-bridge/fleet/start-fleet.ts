import type { BridgeConfig } from "../../config/schema/bridge.ts";
import type { Clock } from "../../platform/clock.ts";
import type { Logger } from "../../platform/logger.ts";
import type { EmbeddedBroker } from "../broker/embedded-broker.ts";
import { startEmbeddedBroker } from "../broker/embedded-broker.ts";
import { bridgeMqttPassword, embeddedBrokerOptionsFromConfig } from "../broker/from-config.ts";
import { credentialsFromConfig, type MachineCredentials } from "../broker/machine-credentials.ts";
import { fleetConnectionFromConfig } from "./connection-from-config.ts";
import { keysFromConfig, type MachineKeys } from "./machine-keys.ts";
import { MqttFleetLink } from "./mqtt-fleet-link.ts";

/**
 * For the composition root: the embedded broker when `broker.mode` is embedded, and the fleet link connected to it
 * (or to the external broker). Credentials and keys come from the configuration unless the registry provides them.
 * The link is created but not started: register onEvent/onAvailability first, then `link.start()`.
 */
export interface Fleet {
  link: MqttFleetLink;
  broker: EmbeddedBroker | undefined;
  /** Stops the link, then the broker. */
  close(): Promise<void>;
}

export async function createFleet(
  config: BridgeConfig,
  deps: { logger: Logger; clock?: Clock; credentials?: MachineCredentials; keys?: MachineKeys },
): Promise<Fleet> {
  const bridgePassword = bridgeMqttPassword(config);
  const broker =
    config.broker.mode === "embedded"
      ? await startEmbeddedBroker(
          embeddedBrokerOptionsFromConfig(config, {
            credentials: deps.credentials ?? credentialsFromConfig(config.machines),
            bridgePassword,
            logger: deps.logger,
          }),
        )
      : undefined;
  const link = new MqttFleetLink({
    ...fleetConnectionFromConfig(config, bridgePassword, broker),
    keys: deps.keys ?? keysFromConfig(config.machines),
    commandTtlMs: config.timeouts.commandTtlMs,
    logger: deps.logger,
    ...(deps.clock ? { clock: deps.clock } : {}),
  });
  return {
    link,
    broker,
    close: async () => {
      await link.stop();
      await broker?.close();
    },
  };
}
