/**
 * Rate-limits a warning per key (a machine) without losing count: at most `perWindow` warnings a key per window are
 * let through; the ones held back are counted and that count rides on the next warning let through, so every
 * message stays accounted for in the log (issue 18: an invalid MQTT message is logged, rate-limited, never silently
 * dropped), while a machine sending garbage in a loop cannot flood the journal. `totals()` counts them all.
 */
export interface ThrottleDecision {
  /** Log this one. */
  log: boolean;
  /** When logging: how many of this key were held back since the last one logged. */
  suppressed: number;
}

export class WarningThrottle {
  readonly #perWindow: number;
  readonly #windowMs: number;
  readonly #maxKeys: number;
  readonly #keys = new Map<string, { windowStart: number; logged: number; suppressed: number }>();
  #total = 0;

  constructor(options: { perWindow: number; windowMs: number; maxKeys?: number }) {
    this.#perWindow = options.perWindow;
    this.#windowMs = options.windowMs;
    this.#maxKeys = options.maxKeys ?? 10_000;
  }

  admit(key: string, now: number): ThrottleDecision {
    this.#total++;
    let state = this.#keys.get(key);
    if (!state) {
      if (this.#keys.size >= this.#maxKeys) {
        // The oldest key goes; its held-back count is lost only from the per-key note, not from totals().
        const oldest = this.#keys.keys().next().value;
        if (oldest !== undefined) this.#keys.delete(oldest);
      }
      state = { windowStart: now, logged: 0, suppressed: 0 };
      this.#keys.set(key, state);
    }
    if (now - state.windowStart >= this.#windowMs || now < state.windowStart) {
      state.windowStart = now;
      state.logged = 0;
    }
    if (state.logged >= this.#perWindow) {
      state.suppressed++;
      return { log: false, suppressed: 0 };
    }
    state.logged++;
    const suppressed = state.suppressed;
    state.suppressed = 0;
    return { log: true, suppressed };
  }

  /** Every message admitted so far, logged or held back. */
  total(): number {
    return this.#total;
  }
}
