import type { Clock, TimerHandle } from "../../platform/clock.ts";

/** Named timers per purchase on the injected clock, so tests drive them and a finished purchase drops all of its own. */
export class SessionTimers {
  readonly #clock: Clock;
  readonly #timers = new Map<string, Map<string, TimerHandle>>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** (Re)sets `name` for `sessionId` to fire at the absolute time `at` (now if already past). */
  setAt(sessionId: string, name: string, at: number, callback: () => void): void {
    this.clear(sessionId, name);
    const delay = Math.max(0, at - this.#clock.now());
    const handle = this.#clock.setTimeout(() => {
      this.#timers.get(sessionId)?.delete(name);
      callback();
    }, delay);
    handle.unref?.();
    let named = this.#timers.get(sessionId);
    if (!named) {
      named = new Map();
      this.#timers.set(sessionId, named);
    }
    named.set(name, handle);
  }

  has(sessionId: string, name: string): boolean {
    return this.#timers.get(sessionId)?.has(name) ?? false;
  }

  clear(sessionId: string, name?: string): void {
    const named = this.#timers.get(sessionId);
    if (!named) return;
    for (const [timerName, handle] of named) {
      if (name === undefined || timerName === name) {
        this.#clock.clearTimeout(handle);
        named.delete(timerName);
      }
    }
    if (named.size === 0) this.#timers.delete(sessionId);
  }

  clearAll(): void {
    for (const sessionId of [...this.#timers.keys()]) this.clear(sessionId);
  }

  get size(): number {
    return this.#timers.size;
  }
}
