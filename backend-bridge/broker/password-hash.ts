import { createHmac, randomBytes, scrypt, scryptSync, timingSafeEqual } from "node:crypto";

/**
 * Machine passwords at rest: scrypt with a per-entry random salt, stored as one self-describing string
 * `scrypt$<log2 N>$<r>$<p>$<salt b64>$<hash b64>` so the cost can be raised later without breaking stored entries.
 * Comparison is constant-time (timingSafeEqual).
 */

export interface ScryptCost {
  /** log2 of scrypt's N. 14 (N = 16384, ~50 ms and 16 MB here) by default; tests lower it. */
  log2N: number;
  r: number;
  p: number;
}

export const defaultScryptCost: ScryptCost = { log2N: 14, r: 8, p: 1 };

const keyLength = 32;
const saltLength = 16;
const format = /^scrypt\$(\d{1,2})\$(\d{1,2})\$(\d{1,2})\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/;

function scryptOptions(cost: ScryptCost) {
  const N = 2 ** cost.log2N;
  // Node refuses scrypt when 128 * N * r exceeds maxmem (32 MB by default): give it what the cost needs.
  return { N, r: cost.r, p: cost.p, maxmem: 256 * N * cost.r };
}

/** Hashes a password for storage. Synchronous: used when building credentials from configuration at start. */
export function hashPassword(password: string, cost: ScryptCost = defaultScryptCost): string {
  const salt = randomBytes(saltLength);
  const hash = scryptSync(password, salt, keyLength, scryptOptions(cost));
  return `scrypt$${cost.log2N}$${cost.r}$${cost.p}$${salt.toString("base64")}$${hash.toString("base64")}`;
}

export function isPasswordHash(stored: string): boolean {
  return format.test(stored);
}

/** Checks a password against a stored hash on the thread pool (never blocks the event loop). False on any malformed input. */
export async function verifyPassword(password: string | Buffer, stored: string): Promise<boolean> {
  const match = format.exec(stored);
  if (!match) return false;
  const [, log2N, r, p, saltB64, hashB64] = match;
  const cost: ScryptCost = { log2N: Number(log2N), r: Number(r), p: Number(p) };
  if (cost.log2N < 1 || cost.log2N > 20 || cost.r < 1 || cost.p < 1) return false;
  const expected = Buffer.from(hashB64 ?? "", "base64");
  if (expected.length !== keyLength) return false;
  const actual = await new Promise<Buffer | undefined>((resolve) => {
    try {
      scrypt(password, Buffer.from(saltB64 ?? "", "base64"), keyLength, scryptOptions(cost), (error, key) =>
        resolve(error ? undefined : key),
      );
    } catch {
      // Parameters scrypt refuses up front (a tampered tiny N hits its memory limit) throw synchronously.
      resolve(undefined);
    }
  });
  return actual !== undefined && timingSafeEqual(actual, expected);
}

/**
 * Remembers passwords that already passed scrypt, as an HMAC under a key that lives only in this process, so a
 * reconnect storm of a whole fleet after a broker restart costs one HMAC per machine instead of 50 ms of scrypt each.
 * The entry is bound to the stored hash: changing a machine's password invalidates it.
 */
export class VerifiedPasswordCache {
  readonly #key = randomBytes(32);
  /** Per machine: the stored hash the password was verified against, and a keyed digest of the two. */
  readonly #entries = new Map<string, { stored: string; digest: Buffer }>();
  readonly #capacity: number;

  constructor(capacity = 100_000) {
    this.#capacity = capacity;
  }

  #digest(stored: string, password: string | Buffer): Buffer {
    return createHmac("sha256", this.#key).update(stored).update("\0").update(password).digest();
  }

  has(machineId: string, stored: string, password: string | Buffer): boolean {
    return this.#matchesKnown(machineId, stored, password) === true;
  }

  /**
   * The password is known to be wrong without hashing it: another one was verified against this very stored hash,
   * and a hash verifies one secret. A wrong password for a machine that logged in before then costs an HMAC, not the
   * PBKDF2 that held the event loop for 0.1 ms per guess. After a rotation (another stored hash) nothing is known.
   */
  refutes(machineId: string, stored: string, password: string | Buffer): boolean {
    return this.#matchesKnown(machineId, stored, password) === false;
  }

  /** Whether the password is the one verified against `stored`; undefined when none was verified against it. */
  #matchesKnown(machineId: string, stored: string, password: string | Buffer): boolean | undefined {
    const known = this.#entries.get(machineId);
    if (known === undefined || known.stored !== stored) return undefined;
    return timingSafeEqual(known.digest, this.#digest(stored, password));
  }

  remember(machineId: string, stored: string, password: string | Buffer): void {
    this.#entries.delete(machineId);
    if (this.#entries.size >= this.#capacity) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(machineId, { stored, digest: this.#digest(stored, password) });
  }
}
