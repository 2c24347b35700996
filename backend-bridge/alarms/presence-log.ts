/**
 * Since when each machine is online or offline, as this bridge process saw it. The fleet link only knows the current
 * availability; the time of the last change is tracked here, in memory. It does not survive a restart on purpose: the
 * retained availability a restarted bridge reads carries the time of the agent's CONNECT (also in its will), not the
 * time the connection died, so no since-time from before the start would be true. The first state seen is marked
 * `sinceBridgeStart` and the console says so.
 */
export interface Presence {
  online: boolean;
  since: number;
  /** The machine was already in this state when the bridge first saw it: `since` is only a lower bound. */
  sinceBridgeStart: boolean;
}

export interface MachinePresence extends Presence {
  machineId: string;
}

export class PresenceLog {
  readonly #startedAt: number;
  readonly #machines = new Map<string, Presence>();

  constructor(startedAt: number) {
    this.#startedAt = startedAt;
  }

  /** Records what the link says now; true when the machine's state changed (or was first seen). */
  observe(machineId: string, online: boolean, at: number): boolean {
    const known = this.#machines.get(machineId);
    if (known?.online === online) return false;
    this.#machines.set(
      machineId,
      known === undefined
        ? { online, since: this.#startedAt, sinceBridgeStart: true }
        : { online, since: at, sinceBridgeStart: false },
    );
    return true;
  }

  get(machineId: string): Presence | undefined {
    return this.#machines.get(machineId);
  }

  all(): MachinePresence[] {
    return [...this.#machines].map(([machineId, presence]) => ({ machineId, ...presence }));
  }
}
