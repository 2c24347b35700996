import type { BridgeConfig } from "../../config/schema/bridge.ts";
import type { MachineEntry } from "./machine-registry.ts";

/**
 * What `machines add` tells the technician about the machine's MQTT login: where it connects, as whom, with which
 * credential, and what it must trust. Never the secret itself: the password is named by the file it came from.
 */
export function describeMachineLogin(
  config: BridgeConfig,
  machineId: string,
  entry: Pick<MachineEntry, "mqttPassword" | "certificateCn">,
  passwordFile: string | undefined,
): string[] {
  const broker = config.broker;
  const where: string[] = [];
  if (broker.mode === "external") {
    where.push(
      broker.mosquitto
        ? `the fleet's Mosquitto ${broker.url} (its login and ACL are written into ${broker.mosquitto.passwordFile} and ${broker.mosquitto.aclFile})`
        : `the fleet's broker ${broker.url} (create the user ${machineId} there; this bridge does not manage it)`,
    );
  } else {
    if (broker.tls.enabled) {
      where.push(
        `mqtts://<this server>:${broker.tls.port}, verifying the broker with the CA that signed ${broker.tls.certFile ?? "broker.tls.certFile"} (the agent's mqtt.tls.caFile)`,
      );
    }
    if (broker.tcp.enabled) where.push(`mqtt://<this server>:${broker.tcp.port} (plain MQTT: trusted networks only)`);
  }
  const lines = [`MQTT: connects to ${where.join(" or ")}`];
  const credentials: string[] = [];
  if (entry.mqttPassword !== undefined) {
    credentials.push(
      `user ${machineId}, client id ${machineId}, the password from ${passwordFile ?? "the file given"} (the store keeps only its hash)`,
    );
  }
  if (entry.certificateCn !== undefined) {
    credentials.push(`a client certificate with CN ${entry.certificateCn} signed by broker.tls.caFile`);
  }
  if (credentials.length === 0) {
    lines.push(
      broker.mode === "embedded"
        ? `MQTT: no login yet: the embedded broker refuses ${machineId} until it is added with --mqtt-password-file or --certificate-cn (--force)`
        : `MQTT: logs in as the fleet's broker decides`,
    );
  } else lines.push(`MQTT: logs in with ${credentials.join(", or ")}`);
  return lines;
}
