import type { BridgeConfig } from "../../config/schema/bridge.ts";
import { hashMachineSecret } from "./machine-secret.ts";

/**
 * How the embedded broker learns a machine's MQTT credentials. The bridge's store/registry implements it for real
 * fleets; `credentialsFromConfig` builds an in-memory one from `machines.<id>` of the configuration.
 */
export interface MachineCredentialRecord {
  /** `$7$...` string from machine-secret.ts (or an older `scrypt$...`); absent for certificate-only machines. */
  passwordHash?: string;
  /** Common name of the machine's client certificate; the machine id when absent. */
  certificateCn?: string;
}

export interface MachineCredentials {
  /** The machine's credentials, or undefined for an unknown machine. May consult a database. */
  lookup(machineId: string): MachineCredentialRecord | undefined | Promise<MachineCredentialRecord | undefined>;
  /**
   * Optional: replace an entry in an older hash form (`checked`) by `replacement` after a good login. Resolves true
   * when it was replaced.
   */
  upgrade?(machineId: string, checked: string, replacement: string): Promise<boolean>;
}

export class InMemoryMachineCredentials implements MachineCredentials {
  readonly #records = new Map<string, MachineCredentialRecord>();

  set(machineId: string, record: MachineCredentialRecord): void {
    this.#records.set(machineId, record);
  }

  delete(machineId: string): void {
    this.#records.delete(machineId);
  }

  lookup(machineId: string): MachineCredentialRecord | undefined {
    return this.#records.get(machineId);
  }
}

/** Hashes `machines.<id>.mqttPassword` (each with its own salt) so that only hashes stay in the broker's memory. */
export function credentialsFromConfig(machines: BridgeConfig["machines"]): InMemoryMachineCredentials {
  const credentials = new InMemoryMachineCredentials();
  for (const [machineId, entry] of Object.entries(machines)) {
    const record: MachineCredentialRecord = {};
    if (entry.mqttPassword !== undefined) record.passwordHash = hashMachineSecret(entry.mqttPassword);
    if (entry.certificateCn !== undefined) record.certificateCn = entry.certificateCn;
    credentials.set(machineId, record);
  }
  return credentials;
}
