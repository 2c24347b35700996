/**
 * A token bucket per key (a createPurchase caller and its source address, or that plus a machine token):
 * `perMinute` calls a minute, bursts up to the same number. The table is bounded, so a flood of invented tokens or
 * addresses cannot grow it without limit.
 */
export class RateLimiter {
  readonly #perMinute: number;
  readonly #maxKeys: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(options: { perMinute: number; now: () => number; maxKeys?: number }) {
    this.#perMinute = options.perMinute;
    this.#now = options.now;
    this.#maxKeys = options.maxKeys ?? 10_000;
  }

  /** True when a call for `key` may go ahead now (and counts it). */
  take(key: string): boolean {
    const now = this.#now();
    let bucket = this.#buckets.get(key);
    if (bucket) {
      bucket.tokens = Math.min(this.#perMinute, bucket.tokens + ((now - bucket.at) * this.#perMinute) / 60_000);
      bucket.at = now;
      this.#buckets.delete(key);
    } else {
      if (this.#buckets.size >= this.#maxKeys) {
        const oldest = this.#buckets.keys().next().value;
        if (oldest !== undefined) this.#buckets.delete(oldest);
      }
      bucket = { tokens: this.#perMinute, at: now };
    }
    // Re-inserted so that the Map's order is least recently used first.
    this.#buckets.set(key, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }
}
