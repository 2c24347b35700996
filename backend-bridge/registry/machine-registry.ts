import { z } from "zod";
import { type BridgeConfig, machineEntry } from "../../config/schema/bridge.ts";
import type { Clock } from "../../platform/clock.ts";
import { type Catalog, catalog as catalogSchema } from "../../protocol/catalog.ts";
import type { MachineCredentialRecord, MachineCredentials } from "../broker/machine-credentials.ts";
import { hashMachineSecret, isMachineSecretHash, needsRehash } from "../broker/machine-secret.ts";
import type { MachineKeys } from "../fleet/machine-keys.ts";
import type { Store } from "../store/store.ts";

/**
 * The machine registry: id (= QR token) -> name, catalog, command-signing key and MQTT credentials. Machines come from
 * the config file (`machines:`) and from the store (`vend-bridge machines add`); the config file wins on a clash and its
 * machines cannot be removed from the command line. Store entries keep only a hash of the MQTT password.
 */

export interface RegisteredMachine {
  machineId: string;
  name: string | undefined;
  catalog: Catalog;
  commandKey: string;
  certificateCn: string | undefined;
  source: "config" | "store";
  /**
   * The catalogs this one replaced (store machines edited in the console), oldest first, each with the time it stopped
   * being in force: a purchase is billed against the catalog of its creation (see catalogInForce).
   */
  catalogHistory?: readonly CatalogPeriod[];
}

export interface CatalogPeriod {
  catalog: Catalog;
  /** Bridge clock (ms): the catalog was replaced at this time. */
  until: number;
}

/** How many replaced catalogs a machine keeps: far more than change during one purchase (minutes at most). */
const catalogHistoryLimit = 10;

/** A machine entry as stored: the password replaced by its hash ($7$, or scrypt$ in entries written before issue 17). */
export const storedMachineEntry = machineEntry.omit({ mqttPassword: true }).extend({
  mqttPasswordHash: z.string().refine(isMachineSecretHash, "must be a $7$ (or older scrypt$) hash").optional(),
  catalogHistory: z
    .array(z.strictObject({ catalog: catalogSchema, until: z.number().int().nonnegative() }))
    .max(catalogHistoryLimit)
    .optional(),
});
export type StoredMachineEntry = z.output<typeof storedMachineEntry>;
export type MachineEntry = z.output<typeof machineEntry>;

interface CacheEntry {
  machine: (RegisteredMachine & { passwordHash?: string }) | undefined;
  until: number;
}

export class MachineRegistry implements MachineCredentials, MachineKeys {
  readonly #config: BridgeConfig["machines"];
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #cacheMs: number;
  readonly #cache = new Map<string, CacheEntry>();
  /** Hashes of config passwords, made on first use (the plain text does not stay in the lookups). */
  readonly #configHashes = new Map<string, string>();

  constructor(options: { machines: BridgeConfig["machines"]; store: Store; clock: Clock; cacheMs?: number }) {
    this.#config = options.machines;
    this.#store = options.store;
    this.#clock = options.clock;
    this.#cacheMs = options.cacheMs ?? 2_000;
  }

  isInConfig(machineId: string): boolean {
    return Object.hasOwn(this.#config, machineId);
  }

  async get(machineId: string): Promise<RegisteredMachine | undefined> {
    const found = await this.#resolve(machineId);
    if (!found) return undefined;
    const { passwordHash: _hidden, ...machine } = found;
    return machine;
  }

  async #resolve(machineId: string): Promise<CacheEntry["machine"]> {
    const configEntry = Object.hasOwn(this.#config, machineId) ? this.#config[machineId] : undefined;
    if (configEntry) {
      return {
        ...fromEntry(machineId, configEntry, "config"),
        ...(configEntry.mqttPassword !== undefined ? { passwordHash: this.#configHash(machineId, configEntry) } : {}),
      };
    }
    const now = this.#clock.now();
    const cached = this.#cache.get(machineId);
    if (cached && cached.until > now) return cached.machine;
    const stored = await this.#store.getMachine(machineId);
    let machine: CacheEntry["machine"];
    if (stored) {
      const parsed = storedMachineEntry.safeParse(JSON.parse(stored.entry));
      if (parsed.success) {
        machine = {
          ...fromEntry(machineId, parsed.data, "store"),
          ...(parsed.data.mqttPasswordHash ? { passwordHash: parsed.data.mqttPasswordHash } : {}),
        };
      }
    }
    if (this.#cache.size > 10_000) this.#cache.clear();
    this.#cache.set(machineId, { machine, until: now + this.#cacheMs });
    return machine;
  }

  #configHash(machineId: string, entry: MachineEntry): string | undefined {
    if (entry.mqttPassword === undefined) return undefined;
    let hash = this.#configHashes.get(machineId);
    if (!hash) {
      hash = hashMachineSecret(entry.mqttPassword);
      this.#configHashes.set(machineId, hash);
    }
    return hash;
  }

  async list(): Promise<RegisteredMachine[]> {
    const machines = new Map<string, RegisteredMachine>();
    for (const stored of await this.#store.listMachines()) {
      const parsed = storedMachineEntry.safeParse(JSON.parse(stored.entry));
      if (parsed.success) machines.set(stored.machineId, fromEntry(stored.machineId, parsed.data, "store"));
    }
    for (const [machineId, entry] of Object.entries(this.#config)) {
      machines.set(machineId, fromEntry(machineId, entry, "config"));
    }
    return [...machines.values()].sort((a, b) => (a.machineId < b.machineId ? -1 : 1));
  }

  /**
   * Every machine's id, from the store and the config, without reading their entries: the fleet link asks every
   * 10 s, and reading and parsing 10,000 entries held the event loop for a few hundred ms each time.
   */
  async machineIds(): Promise<string[]> {
    const ids = new Set(await this.#store.listMachineIds());
    for (const machineId of Object.keys(this.#config)) ids.add(machineId);
    return [...ids];
  }

  /** Adds or replaces a machine in the store. The password is hashed here; the entry is validated first. */
  async add(machineId: string, entry: MachineEntry): Promise<void> {
    if (this.isInConfig(machineId)) {
      throw new RegistryError(`machine ${machineId} is defined in the config file; change it there`);
    }
    const { mqttPassword, ...rest } = machineEntry.parse(entry);
    const stored: StoredMachineEntry = {
      ...rest,
      ...(mqttPassword !== undefined ? { mqttPasswordHash: hashMachineSecret(mqttPassword) } : {}),
    };
    await this.#store.putMachine(machineId, JSON.stringify(stored), this.#clock.now());
    this.#cache.delete(machineId);
  }

  /** The stored entry of a machine added with `machines add` (never a config machine), secrets included. */
  async stored(machineId: string): Promise<StoredMachineEntry | undefined> {
    const stored = await this.#store.getMachine(machineId);
    if (!stored) return undefined;
    const parsed = storedMachineEntry.safeParse(JSON.parse(stored.entry));
    return parsed.success ? parsed.data : undefined;
  }

  /**
   * Replaces a stored machine's catalog (the console's catalog page) and writes the audit entry with the operator, in
   * one transaction. The catalog it replaces is kept with the time it ended, for purchases created under it.
   */
  async setCatalog(machineId: string, catalog: Catalog, by: { operator: string; at: number }): Promise<void> {
    if (this.isInConfig(machineId)) {
      throw new RegistryError(`machine ${machineId} is defined in the config file; change its catalog there`);
    }
    const next = catalogSchema.parse(catalog);
    await this.#store.transaction(async (tx) => {
      const stored = await tx.getMachine(machineId);
      const parsed = stored ? storedMachineEntry.safeParse(JSON.parse(stored.entry)) : undefined;
      if (!parsed?.success) throw new RegistryError(`machine ${machineId} is not in the store`);
      const current = parsed.data;
      const history = [...(current.catalogHistory ?? []), { catalog: current.catalog, until: by.at }];
      const entry = storedMachineEntry.parse({
        ...current,
        catalog: next,
        catalogHistory: history.slice(-catalogHistoryLimit),
      });
      await tx.putMachine(machineId, JSON.stringify(entry), by.at);
      await tx.appendAudit({
        sessionId: null,
        machineId,
        fromState: null,
        toState: null,
        reason: "catalog-changed",
        detail: { operator: by.operator, before: current.catalog, after: next },
        at: by.at,
      });
    });
    this.#cache.delete(machineId);
  }

  /** Replaces a stored machine's command key, keeping everything else (catalog, login). */
  async rotateKey(machineId: string, commandKey: string): Promise<void> {
    if (this.isInConfig(machineId)) {
      throw new RegistryError(`machine ${machineId} is defined in the config file; change its commandKey there`);
    }
    const current = await this.stored(machineId);
    if (!current) throw new RegistryError(`machine ${machineId} is not in the store`);
    const next = storedMachineEntry.parse({ ...current, commandKey });
    await this.#store.putMachine(machineId, JSON.stringify(next), this.#clock.now());
    this.#cache.delete(machineId);
  }

  /** Replaces a stored machine's MQTT password (hashed here), keeping everything else; the old one stops working. */
  async rotatePassword(machineId: string, mqttPassword: string): Promise<void> {
    if (this.isInConfig(machineId)) {
      throw new RegistryError(`machine ${machineId} is defined in the config file; change its mqttPassword there`);
    }
    const current = await this.stored(machineId);
    if (!current) throw new RegistryError(`machine ${machineId} is not in the store`);
    const password = machineEntry.shape.mqttPassword.unwrap().parse(mqttPassword);
    const next = storedMachineEntry.parse({ ...current, mqttPasswordHash: hashMachineSecret(password) });
    await this.#store.putMachine(machineId, JSON.stringify(next), this.#clock.now());
    this.#cache.delete(machineId);
  }

  /**
   * Every machine's password hash as stored (config machines: hashed now), for an external broker's password file.
   * Machines without a password (certificate only, or none yet) have none.
   */
  async passwordHashes(): Promise<{ machineId: string; passwordHash: string | undefined }[]> {
    // One read of the store, not one per machine: a fleet of thousands is exported at every add and remove.
    const hashes = new Map<string, string | undefined>();
    for (const stored of await this.#store.listMachines()) {
      const parsed = storedMachineEntry.safeParse(JSON.parse(stored.entry));
      if (parsed.success) hashes.set(stored.machineId, parsed.data.mqttPasswordHash);
    }
    for (const [machineId, entry] of Object.entries(this.#config))
      hashes.set(machineId, this.#configHash(machineId, entry));
    return [...hashes.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([machineId, passwordHash]) => ({ machineId, passwordHash }));
  }

  async remove(machineId: string): Promise<boolean> {
    if (this.isInConfig(machineId)) {
      throw new RegistryError(`machine ${machineId} is defined in the config file; remove it there`);
    }
    this.#cache.delete(machineId);
    return this.#store.deleteMachine(machineId);
  }

  /** MachineKeys for the fleet link: the key that signs this machine's unlock and config commands. */
  async commandKey(machineId: string): Promise<string | undefined> {
    return (await this.#resolve(machineId))?.commandKey;
  }

  /**
   * After a good login with an entry in an older form (scrypt): the same secret, stored in the current form, so the
   * next login costs microseconds. Only if the entry is still the one that was checked (a concurrent `machines add`
   * wins); never for machines of the config file (their hashes are made at start, in the current form).
   */
  async upgrade(machineId: string, checked: string, replacement: string): Promise<boolean> {
    if (this.isInConfig(machineId) || !needsRehash(checked) || needsRehash(replacement)) return false;
    const current = await this.stored(machineId);
    if (!current || current.mqttPasswordHash !== checked) return false;
    const next = storedMachineEntry.parse({ ...current, mqttPasswordHash: replacement });
    await this.#store.putMachine(machineId, JSON.stringify(next), this.#clock.now());
    this.#cache.delete(machineId);
    return true;
  }

  /** MachineCredentials for the embedded broker. */
  async lookup(machineId: string): Promise<MachineCredentialRecord | undefined> {
    const machine = await this.#resolve(machineId);
    if (!machine) return undefined;
    return {
      ...(machine.passwordHash ? { passwordHash: machine.passwordHash } : {}),
      ...(machine.certificateCn ? { certificateCn: machine.certificateCn } : {}),
    };
  }
}

export class RegistryError extends Error {}

function fromEntry(
  machineId: string,
  entry: Omit<MachineEntry, "mqttPassword"> | StoredMachineEntry,
  source: RegisteredMachine["source"],
): RegisteredMachine {
  return {
    machineId,
    name: entry.name,
    catalog: entry.catalog,
    commandKey: entry.commandKey,
    certificateCn: entry.certificateCn,
    source,
    ...("catalogHistory" in entry && entry.catalogHistory ? { catalogHistory: entry.catalogHistory } : {}),
  };
}

/**
 * The catalog that was in force at `at` (bridge clock): the first replaced one that ended after `at`, else the current
 * one. The bill cap of a purchase is the catalog of its creation: the agent changes prices only between sessions.
 */
export function catalogInForce(machine: Pick<RegisteredMachine, "catalog" | "catalogHistory">, at: number): Catalog {
  return machine.catalogHistory?.find((period) => period.until > at)?.catalog ?? machine.catalog;
}
