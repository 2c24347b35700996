export interface ThrottleLimits {
  /** Failed logins allowed per operator name, and per client address, within the window. */
  failures: number;
  windowMs: number;
}

export const defaultThrottleLimits: ThrottleLimits = { failures: 5, windowMs: 15 * 60_000 };

/**
 * Slows password guessing: after `failures` failed logins within the window, for one name or from one address, further
 * attempts are refused without checking the password until the oldest failure leaves the window. Per name stops a
 * spread-out guess at one account; per address stops one client trying many names.
 */
export class LoginThrottle {
  readonly #failures = new Map<string, number[]>();
  readonly #limits: ThrottleLimits;

  constructor(limits: ThrottleLimits = defaultThrottleLimits) {
    this.#limits = limits;
  }

  /** Milliseconds until another attempt is allowed for this name and address; 0 when allowed now. */
  waitMs(name: string, address: string, now: number): number {
    return Math.max(this.#wait(`name:${name}`, now), this.#wait(`address:${address}`, now));
  }

  failed(name: string, address: string, now: number): void {
    for (const key of [`name:${name}`, `address:${address}`]) this.#failures.set(key, [...this.#recent(key, now), now]);
  }

  succeeded(name: string): void {
    this.#failures.delete(`name:${name}`);
  }

  #recent(key: string, now: number): number[] {
    const recent = (this.#failures.get(key) ?? []).filter((at) => now - at < this.#limits.windowMs);
    if (recent.length === 0) this.#failures.delete(key);
    else this.#failures.set(key, recent);
    return recent;
  }

  #wait(key: string, now: number): number {
    const recent = this.#recent(key, now);
    if (recent.length < this.#limits.failures) return 0;
    const releasing = recent[recent.length - this.#limits.failures] as number;
    return releasing + this.#limits.windowMs - now;
  }
}
