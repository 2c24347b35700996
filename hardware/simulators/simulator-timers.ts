import type { Clock, TimerHandle } from "../../platform/clock.ts";

/**
 * The timers a hardware simulator has scheduled (a switch to flip, a line to answer), so that stopping it cancels
 * every one of them: a stopped simulator must not act on the test or the driver afterwards.
 */
export class SimulatorTimers {
  readonly #clock: Clock;
  readonly #pending = new Set<TimerHandle>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  after(ms: number, action: () => void): void {
    const timer = this.#clock.setTimeout(() => {
      this.#pending.delete(timer);
      action();
    }, ms);
    this.#pending.add(timer);
  }

  cancelAll(): void {
    for (const timer of this.#pending) this.#clock.clearTimeout(timer);
    this.#pending.clear();
  }
}
