import type { Clock } from "../../platform/clock.ts";
import type { Logger } from "../../platform/logger.ts";
import { type Catalog, catalogHash } from "../../protocol/catalog.ts";
import type { MachineState } from "../../protocol/messages.ts";
import type { MachineRegistry } from "../registry/machine-registry.ts";
import type { FleetLink } from "./fleet-link.ts";

/**
 * Gets a catalog changed in the console onto its machine: the change is stored and audited (registry.setCatalog),
 * then sent as a signed `cmd/config`. Machines use clean sessions and the agent refuses a config while a session is
 * open, so a push can be lost; it goes again when the machine comes back online and when its retained state turns
 * idle, as long as the state does not show the catalog's hash (`catalogHash`, what the agent sells with; an older agent
 * that reports none gets it once per reconnect). Only
 * catalogs edited in the console are pushed this way: a machine whose catalog nobody changed here keeps its own.
 */

export interface CatalogPushDeps {
  fleet: Pick<FleetLink, "send" | "onAvailability" | "onState" | "lastState">;
  registry: Pick<MachineRegistry, "get" | "setCatalog">;
  clock: Clock;
  logger: Logger;
  /** expiresAt of the cmd/config (the bridge's commandTtlMs). */
  ttlMs: number;
}

export interface CatalogPushed {
  commandId: string;
  hash: string;
  at: number;
}

/** What the catalog page shows about a machine: what the agent sells with against what the registry says. */
export type CatalogConfirmation =
  | { status: "confirmed"; agentHash: string }
  | { status: "pushed"; agentHash: string | undefined; pushed: CatalogPushed }
  | { status: "not-confirmed"; agentHash: string | undefined };

export class CatalogPush {
  readonly #deps: CatalogPushDeps;
  /** The last cmd/config sent to each machine since the bridge started. */
  readonly #pushed = new Map<string, CatalogPushed>();
  /** Machines whose last state showed a session or a held selection (a config sent then is refused as busy). */
  readonly #busy = new Set<string>();

  constructor(deps: CatalogPushDeps) {
    this.#deps = deps;
  }

  /** Registers the listeners; before the fleet link starts. */
  start(): void {
    this.#deps.fleet.onAvailability((machineId, availability) => {
      if (availability.state === "online") this.#spawn(this.#resendIfMissing(machineId, "online"), machineId);
    });
    this.#deps.fleet.onState?.((machineId, state) => {
      const wasBusy = this.#busy.has(machineId);
      if (isBusy(state)) this.#busy.add(machineId);
      else this.#busy.delete(machineId);
      if (wasBusy && !isBusy(state)) this.#spawn(this.#resendIfMissing(machineId, "idle"), machineId);
    });
  }

  /** The operator's change: stored with its audit entry, then pushed. Rejects (nothing stored) on a config machine. */
  async change(machineId: string, catalog: Catalog, operator: string): Promise<void> {
    await this.#deps.registry.setCatalog(machineId, catalog, { operator, at: this.#deps.clock.now() });
    // Stored is what counts: a push that fails now goes again when the machine is next online or idle.
    await this.#push(machineId, catalog).catch((error: unknown) =>
      this.#deps.logger.warn({ err: error, machineId }, "cmd/config not sent; it goes again on reconnect"),
    );
  }

  confirmation(machineId: string, catalog: Catalog): CatalogConfirmation {
    const hash = catalogHash(catalog);
    const agentHash = this.#deps.fleet.lastState(machineId)?.catalogHash;
    if (agentHash === hash) return { status: "confirmed", agentHash };
    const pushed = this.#pushed.get(machineId);
    if (pushed?.hash === hash) return { status: "pushed", agentHash, pushed };
    return { status: "not-confirmed", agentHash };
  }

  async #push(machineId: string, catalog: Catalog): Promise<void> {
    const at = this.#deps.clock.now();
    const commandId = await this.#deps.fleet.send(machineId, "config", { catalog }, { ttlMs: this.#deps.ttlMs });
    this.#pushed.set(machineId, { commandId, hash: catalogHash(catalog), at });
    this.#deps.logger.info({ machineId, commandId, hash: catalogHash(catalog) }, "catalog pushed (cmd/config)");
  }

  async #resendIfMissing(machineId: string, on: "online" | "idle"): Promise<void> {
    const machine = await this.#deps.registry.get(machineId);
    // Edited in the console: a store machine with a replaced catalog (registry.setCatalog keeps the old ones).
    if (machine?.source !== "store" || (machine.catalogHistory ?? []).length === 0) return;
    const state = this.#deps.fleet.lastState(machineId);
    const hash = catalogHash(machine.catalog);
    if (state?.catalogHash === hash) return;
    // An older agent reports no hash, so it can never confirm: sent once per reconnect, not after every session.
    if (
      on === "idle" &&
      state !== undefined &&
      state.catalogHash === undefined &&
      this.#pushed.get(machineId)?.hash === hash
    ) {
      return;
    }
    await this.#push(machineId, machine.catalog);
  }

  #spawn(work: Promise<void>, machineId: string): void {
    work.catch((error: unknown) => this.#deps.logger.warn({ err: error, machineId }, "catalog resend failed"));
  }
}

function isBusy(state: MachineState): boolean {
  return state.session !== null || state.pendingSelection !== undefined;
}
