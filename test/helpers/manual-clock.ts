import type { Clock, TimerHandle } from "../../platform/clock.ts";

interface Timer extends TimerHandle {
  id: number;
  at: number;
  callback: () => void;
}

/** A clock the test moves by hand: `advance(ms)` fires due timers in time order and lets their promises run. */
export class ManualClock implements Clock {
  #now: number;
  #nextId = 1;
  #timers = new Map<number, Timer>();
  /** Waits until the system under test has reacted to a fired timer (the harness waits for store I/O). */
  quiesce: () => Promise<void> = () => settle();

  constructor(start = Date.UTC(2026, 0, 15, 10, 0, 0)) {
    this.#now = start;
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

  get pending(): number {
    return this.#timers.size;
  }

  /**
   * Moves time forward by `ms` without firing anything: a process paused (SIGSTOP, a VM frozen) sees the time jump
   * when it resumes, and may handle I/O that was waiting before its timers. `advance(0)` fires them afterwards.
   */
  jump(ms: number): void {
    this.#now += ms;
  }

  /** When the earliest timer is due; undefined when none is pending. */
  nextDueAt(): number | undefined {
    let earliest: number | undefined;
    for (const timer of this.#timers.values()) if (earliest === undefined || timer.at < earliest) earliest = timer.at;
    return earliest;
  }

  /** Moves time forward by `ms`, firing each due timer at its own time. */
  advance(ms: number): Promise<void> {
    return this.advanceTo(this.#now + ms);
  }

  /** Moves time to `end`, firing each due timer at its own time and letting the system react (`quiesce`) after it. */
  async advanceTo(end: number, quiesce: () => Promise<void> = this.quiesce): Promise<void> {
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
}

/** Lets queued promise callbacks and I/O callbacks run (a few event-loop turns). */
export async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
