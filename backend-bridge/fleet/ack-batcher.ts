import type { Clock, TimerHandle } from "../../platform/clock.ts";

/**
 * Collects the eventIds to acknowledge per machine for a short while, so that a burst of events (vended, vended,
 * session-ended) costs one `cmd/ack` instead of three. Flushes at `maxBatch` ids (the contract's limit is 100).
 */
export class AckBatcher {
  readonly #pending = new Map<string, { ids: Set<string>; timer: TimerHandle }>();
  readonly #clock: Clock;
  readonly #delayMs: number;
  readonly #maxBatch: number;
  readonly #flush: (machineId: string, eventIds: string[]) => void;

  constructor(options: {
    clock: Clock;
    delayMs: number;
    maxBatch?: number;
    flush: (machineId: string, eventIds: string[]) => void;
  }) {
    this.#clock = options.clock;
    this.#delayMs = options.delayMs;
    this.#maxBatch = Math.min(options.maxBatch ?? 100, 100);
    this.#flush = options.flush;
  }

  add(machineId: string, eventId: string): void {
    let entry = this.#pending.get(machineId);
    if (!entry) {
      const timer = this.#clock.setTimeout(() => this.flushMachine(machineId), this.#delayMs);
      timer.unref?.();
      entry = { ids: new Set(), timer };
      this.#pending.set(machineId, entry);
    }
    entry.ids.add(eventId);
    if (entry.ids.size >= this.#maxBatch) this.flushMachine(machineId);
  }

  flushMachine(machineId: string): void {
    const entry = this.#pending.get(machineId);
    if (!entry) return;
    this.#pending.delete(machineId);
    this.#clock.clearTimeout(entry.timer);
    if (entry.ids.size > 0) this.#flush(machineId, [...entry.ids]);
  }

  flushAll(): void {
    for (const machineId of [...this.#pending.keys()]) this.flushMachine(machineId);
  }

  /** Drops what is pending without sending (on stop: the agents resend and are acked next time). */
  clear(): void {
    for (const entry of this.#pending.values()) this.#clock.clearTimeout(entry.timer);
    this.#pending.clear();
  }
}
