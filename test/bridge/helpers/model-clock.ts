import type { Clock, TimerHandle } from "../../../platform/clock.ts";
import { ManualClock } from "../../helpers/manual-clock.ts";

/**
 * The model test's clock: moved by hand like ManualClock (whose `nextDueAt` lets a step jump straight past the next
 * ack, payment, session or commit deadline), and it hands out per-instance views whose timers all die with a crashed
 * bridge instance.
 */
export class ModelClock extends ManualClock {
  /** When the run began (messages give times relative to it). */
  readonly start: number;

  constructor(start = Date.UTC(2026, 0, 15, 10, 0, 0)) {
    super(start);
    this.start = start;
  }

  view(): ClockView {
    return new ClockView(this);
  }
}

/** One bridge instance's clock: `kill()` drops its timers (a crashed process runs none of them again). */
export class ClockView implements Clock {
  readonly #clock: ModelClock;
  readonly #mine = new Set<TimerHandle>();
  #dead = false;

  constructor(clock: ModelClock) {
    this.#clock = clock;
  }

  now(): number {
    return this.#clock.now();
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    if (this.#dead) return { unref: () => undefined };
    const handle = this.#clock.setTimeout(() => {
      this.#mine.delete(handle);
      if (!this.#dead) callback();
    }, ms);
    this.#mine.add(handle);
    return handle;
  }

  clearTimeout(handle: TimerHandle): void {
    this.#mine.delete(handle);
    this.#clock.clearTimeout(handle);
  }

  kill(): void {
    this.#dead = true;
    for (const handle of this.#mine) this.#clock.clearTimeout(handle);
    this.#mine.clear();
  }
}
