/**
 * Since when each machine is online or offline, as this bridge process saw it. The fleet link only knows the current
 * availability; the time of the last change is tracked here, in memory. An `online` message carries the time the agent
 * came online (retained, so a restarted bridge reads it too): that time is exact. An offline machine's time is not
 * kept across a restart: its retained will carries the time of the agent's CONNECT, not the time the connection
 * died, so no since-time from before the start would be true. Such a first state is marked `sinceBridgeStart` and the
 * console says so.
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

  /**
   * Records what the link says now; true when the machine's state changed (or was first seen). `exact`: `at` is the
   * true start of this state even for a machine seen first (the agent's own time in an `online` message).
   */
  observe(machineId: string, online: boolean, at: number, options: { exact?: boolean } = {}): boolean {
    const known = this.#machines.get(machineId);
    if (known?.online === online) return false;
    this.#machines.set(
      machineId,
      known === undefined && !options.exact
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
