import type { Clock, TimerHandle } from "../../../platform/clock.ts";

/**
 * The model test's clock: moved by hand like ManualClock, but it also says when its next timer is due (so a step can
 * jump straight past the next ack, payment, session or commit deadline) and hands out per-instance views whose
 * timers all die with a crashed bridge instance.
 */
interface Timer extends TimerHandle {
  id: number;
  at: number;
  callback: () => void;
}

export class ModelClock implements Clock {
  #now: number;
  #nextId = 1;
  readonly #timers = new Map<number, Timer>();
  /** When the run began (messages give times relative to it). */
  readonly start: number;

  constructor(start = Date.UTC(2026, 0, 15, 10, 0, 0)) {
    this.#now = start;
    this.start = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    const timer: Timer = { id: this.#nextId++, at: this.#now + Math.max(0, ms), callback, unref: () => timer };
    this.#timers.set(timer.id, timer);
    return timer;
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete((handle as Timer).id);
  }

  /** When the earliest timer is due; undefined when none is pending. */
  nextDueAt(): number | undefined {
    let earliest: number | undefined;
    for (const timer of this.#timers.values()) if (earliest === undefined || timer.at < earliest) earliest = timer.at;
    return earliest;
  }

  /** Moves time to `end`, firing each due timer at its own time and letting the system react (`quiesce`) after it. */
  async advanceTo(end: number, quiesce: () => Promise<void>): Promise<void> {
    for (;;) {
      await quiesce();
      const due = [...this.#timers.values()]
        .filter((timer) => timer.at <= end)
        .sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.#timers.delete(due.id);
      this.#now = Math.max(this.#now, due.at);
      due.callback();
    }
    this.#now = Math.max(this.#now, end);
    await quiesce();
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
