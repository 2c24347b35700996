import type { BridgeConfig } from "../../config/schema/bridge.ts";
import { defaultScryptCost, hashPassword, type ScryptCost } from "./password-hash.ts";

/**
 * How the embedded broker learns a machine's MQTT credentials. The bridge's store/registry implements it for real
 * fleets; `credentialsFromConfig` builds an in-memory one from `machines.<id>` of the configuration.
 */
export interface MachineCredentialRecord {
  /** `scrypt$...` string from password-hash.ts; absent when the machine logs in by certificate only. */
  passwordHash?: string;
  /** Common name of the machine's client certificate; the machine id when absent. */
  certificateCn?: string;
}

export interface MachineCredentials {
  /** The machine's credentials, or undefined for an unknown machine. May consult a database. */
  lookup(machineId: string): MachineCredentialRecord | undefined | Promise<MachineCredentialRecord | undefined>;
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
export function credentialsFromConfig(
  machines: BridgeConfig["machines"],
  cost: ScryptCost = defaultScryptCost,
): InMemoryMachineCredentials {
  const credentials = new InMemoryMachineCredentials();
  for (const [machineId, entry] of Object.entries(machines)) {
    const record: MachineCredentialRecord = {};
    if (entry.mqttPassword !== undefined) record.passwordHash = hashPassword(entry.mqttPassword, cost);
    if (entry.certificateCn !== undefined) record.certificateCn = entry.certificateCn;
    credentials.set(machineId, record);
  }
  return credentials;
}
