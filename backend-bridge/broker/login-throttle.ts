/**
 * Failed MQTT logins, counted per source address and per (machine id, source address) over a sliding window. Past
 * the limit, the broker does no expensive work for logins from there (an old scrypt entry is refused unchecked; a
 * current entry costs microseconds to check anyway). Keyed on the address, so that someone who knows a machine's id (it
 * is in the QR code) and guesses its password from elsewhere does not lock the real machine out; a good login clears
 * its own pair.
 */

export interface LoginThrottleLimits {
  windowMs: number;
  /** Failures from one address, whatever the machine ids, before it is refused outright. */
  perAddress: number;
  /** Failures for one machine id from one address. */
  perMachineAndAddress: number;
}

export const defaultLoginThrottleLimits: LoginThrottleLimits = {
  windowMs: 60_000,
  perAddress: 100,
  perMachineAndAddress: 10,
};

export class LoginThrottle {
  readonly #limits: LoginThrottleLimits;
  readonly #failures = new Map<string, number[]>();

  constructor(limits: LoginThrottleLimits = defaultLoginThrottleLimits) {
    this.#limits = limits;
  }

  /** Why a login from `address` for `machineId` is refused without checking it, or undefined to check it. */
  refusal(machineId: string, address: string, now: number): string | undefined {
    if (this.#recent(pairKey(machineId, address), now) >= this.#limits.perMachineAndAddress) {
      return `too many failed logins for ${machineId} from ${address}`;
    }
    if (this.#recent(address, now) >= this.#limits.perAddress) return `too many failed logins from ${address}`;
    return undefined;
  }

  failed(machineId: string, address: string, now: number): void {
    this.#add(pairKey(machineId, address), now);
    this.#add(address, now);
  }

  succeeded(machineId: string, address: string): void {
    this.#failures.delete(pairKey(machineId, address));
  }

  /** Keys tracked (for tests and metrics); old ones go as they are next looked at or by prune(). */
  get size(): number {
    return this.#failures.size;
  }

  /** Failure times held in memory: at most the larger limit per key, however long a flood goes on. */
  get storedFailures(): number {
    let total = 0;
    for (const times of this.#failures.values()) total += times.length;
    return total;
  }

  /** Drops keys with no failure inside the window (call now and then: a flood from many addresses leaves many keys). */
  prune(now: number): void {
    for (const key of [...this.#failures.keys()]) if (this.#recent(key, now) === 0) this.#failures.delete(key);
  }

  #recent(key: string, now: number): number {
    const times = this.#failures.get(key);
    if (!times) return 0;
    const from = now - this.#limits.windowMs;
    while (times.length > 0 && (times[0] ?? 0) <= from) times.shift();
    if (times.length === 0) this.#failures.delete(key);
    return times.length;
  }

  #add(key: string, now: number): void {
    const times = this.#failures.get(key) ?? [];
    times.push(now);
    // Only the count up to the limit matters: a flood must not grow the list without bound.
    const cap = Math.max(this.#limits.perAddress, this.#limits.perMachineAndAddress);
    if (times.length > cap) times.splice(0, times.length - cap);
    this.#failures.set(key, times);
  }
}

function pairKey(machineId: string, address: string): string {
  return `${machineId}\u0000${address}`;
}
