import type { BridgeConfig } from "../../config/schema/bridge.ts";

/**
 * Where the fleet link finds a machine's command key (hex HMAC-SHA256 key that signs `unlock` and `config`). The
 * bridge's registry implements it; `keysFromConfig` reads `machines.<id>.commandKey`.
 */
export interface MachineKeys {
  commandKey(machineId: string): string | undefined | Promise<string | undefined>;
}

export class InMemoryMachineKeys implements MachineKeys {
  readonly #keys: Map<string, string>;

  constructor(entries: Iterable<[string, string]> = []) {
    this.#keys = new Map(entries);
  }

  set(machineId: string, keyHex: string): void {
    this.#keys.set(machineId, keyHex);
  }

  commandKey(machineId: string): string | undefined {
    return this.#keys.get(machineId);
  }
}

export function keysFromConfig(machines: BridgeConfig["machines"]): InMemoryMachineKeys {
  return new InMemoryMachineKeys(Object.entries(machines).map(([id, entry]) => [id, entry.commandKey]));
}
