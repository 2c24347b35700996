import type { Clock, TimerHandle } from "../../platform/clock.ts";
import type { Logger } from "../../platform/logger.ts";
import type { EventPayload } from "../../protocol/messages.ts";
import type { Store } from "../store/store.ts";
import type { FleetEvent, FleetLink } from "./fleet-link.ts";

/**
 * No out-of-service flag outlives its cause (issue 15, defects 1 and 2).
 *
 * A machine is flagged unavailable by a `fault {outOfService}`, an unacknowledged or a refused unlock. A brief fault
 * (the VMC disabling the reader for service, a serial link that blinks) never changes the machine's MQTT availability,
 * so waiting for `online` would keep it out of sale for hours. Instead:
 *  - the agent reports `in-service` when the cause is gone, and answers `ping` with `pong {inService}`: either clears
 *    the flag (machineFlagChange, applied by the orchestrator in the event's transaction);
 *  - every `intervalMs` each flagged machine that is online is pinged, so a flag whose `in-service` was lost, or that
 *    came from an unlock the machine never answered, is re-checked without a reconnect;
 *  - when the bridge's own broker link comes back (a broker restart), the unlocks still waiting for an answer are
 *    resent: the broker may have lost them, and the machines' `online` may never change (same boot, nothing retained).
 */

export type MachineFlagChange = { kind: "set"; reason: string } | { kind: "clear" };

/** What an event from a machine means for its unavailable flag; undefined when it says nothing about it. Pure. */
export function machineFlagChange(event: FleetEvent): MachineFlagChange | undefined {
  switch (event.name) {
    case "fault": {
      const fault = event.payload as EventPayload<"fault">;
      return fault.outOfService ? { kind: "set", reason: `fault:${fault.code}` } : undefined;
    }
    case "in-service":
      return { kind: "clear" };
    case "pong":
      // Only a positive answer clears: a pong of an older agent (no inService) proves reachability, not service.
      return (event.payload as EventPayload<"pong">).inService === true ? { kind: "clear" } : undefined;
    default:
      return undefined;
  }
}

export interface AvailabilityRecheckOptions {
  fleet: Pick<FleetLink, "isOnline" | "send" | "onConnectionChange">;
  store: Pick<Store, "listUnavailableMachines" | "listOpenPurchases">;
  /** Resends the unlock of the purchase holding this machine, if it still waits for the machine's answer. */
  resendUnlock(machineId: string): Promise<void>;
  clock: Clock;
  logger: Logger;
  /** How often flagged machines are pinged (default 5 s). */
  intervalMs: number;
  /** Lifetime of those pings (the command TTL). */
  pingTtlMs: number;
}

export class AvailabilityRecheck {
  readonly #o: AvailabilityRecheckOptions;
  readonly #log: Logger;
  #timer: TimerHandle | undefined;
  #running: Promise<void> | undefined;
  #stopped = true;

  constructor(options: AvailabilityRecheckOptions) {
    if (!Number.isInteger(options.intervalMs) || options.intervalMs <= 0) {
      throw new Error("the availability re-check interval must be a positive integer of ms");
    }
    this.#o = options;
    this.#log = options.logger.child({ module: "availability-recheck" });
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#o.fleet.onConnectionChange?.((connected) => {
      if (connected && !this.#stopped) void this.#guard(this.resendPendingUnlocks(), "resend pending unlocks");
    });
    this.#schedule();
  }

  /** Stops the rounds and waits for the one in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** Pings every flagged machine that is online; their positive pongs clear the flags. */
  async recheck(): Promise<void> {
    const flagged = await this.#o.store.listUnavailableMachines();
    for (const { machineId, reason } of flagged) {
      if (this.#stopped || !this.#o.fleet.isOnline(machineId)) continue;
      this.#log.debug({ machineId, reason }, "re-checking a machine flagged unavailable");
      try {
        await this.#o.fleet.send(machineId, "ping", {}, { ttlMs: this.#o.pingTtlMs });
      } catch (error) {
        this.#log.warn({ machineId, err: String(error) }, "could not ping a flagged machine; next round");
      }
    }
  }

  /** The bridge's link is back: resend every unlock still waiting for its machine's answer (state `reserved`). */
  async resendPendingUnlocks(): Promise<void> {
    const machines = new Set<string>();
    for (const purchase of await this.#o.store.listOpenPurchases()) {
      if (purchase.state === "reserved" && this.#o.fleet.isOnline(purchase.machineId)) machines.add(purchase.machineId);
    }
    for (const machineId of machines) {
      this.#log.info({ machineId }, "broker link back with an unacknowledged unlock: resending");
      await this.#guard(this.#o.resendUnlock(machineId), "resend unlock");
    }
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = this.#o.clock.setTimeout(() => {
      // One round at a time: a slow store or broker delays the next round instead of piling them up.
      this.#running ??= this.#guard(this.recheck(), "availability re-check").finally(() => {
        this.#running = undefined;
        this.#schedule();
      });
    }, this.#o.intervalMs);
    this.#timer.unref?.();
  }

  async #guard(work: Promise<void>, what: string): Promise<void> {
    try {
      await work;
    } catch (error) {
      this.#log.error({ err: String(error) }, `${what} failed`);
    }
  }
}
