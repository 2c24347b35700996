import { pbkdf2Sync, randomBytes, timingSafeEqual } from "node:crypto";
import { isPasswordHash, verifyPassword } from "./password-hash.ts";

/**
 * Machine passwords at rest, at the cost they should have (issue 17). A machine's MQTT password is a random secret
 * (`vend-bridge machines add` makes 128 bits), not something a person chose: no dictionary to slow down, so scrypt's
 * 50-70 ms per login only made a reconnecting fleet (and anyone knowing a machine id, which is in the QR code) burn the
 * thread pool. Stored now as Mosquitto's own password-file format, `$7$<iterations>$<salt b64>$<hash b64>`: PBKDF2
 * with HMAC-SHA512, 101 iterations, a 12-byte salt, 64 bytes out (mosquitto_passwd's defaults), about 0.1 ms. Still
 * non-reversible, and the same line can go into a Mosquitto password file for the external-broker mode.
 *
 * Entries written before (`scrypt$...`) still verify, a few at a time (`maxConcurrentScrypt`), and are to be replaced
 * after their first good login (`needsRehash`).
 */

const iterations = 101;
const saltLength = 12;
const hashLength = 64;
const format = /^\$7\$(\d{1,7})\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/;
/** An attacker may write any iteration count into a tampered store: never more than this much work per login. */
const maxIterations = 100_000;

export function hashMachineSecret(secret: string): string {
  const salt = randomBytes(saltLength);
  const hash = pbkdf2Sync(secret, salt, iterations, hashLength, "sha512");
  return `$7$${iterations}$${salt.toString("base64")}$${hash.toString("base64")}`;
}

export function isMachineSecretHash(stored: string): boolean {
  return format.test(stored) || isPasswordHash(stored);
}

/** True for an entry in an older, slower form: rewrite it with hashMachineSecret once its secret is known good. */
export function needsRehash(stored: string): boolean {
  return !format.test(stored);
}

/**
 * Checks a machine's secret against its stored form. `$7$` entries are checked inline (microseconds, no thread-pool
 * round trip); `scrypt$` entries go through `legacy`, which bounds how many run at once. False on malformed input.
 */
export async function verifyMachineSecret(
  secret: string | Buffer,
  stored: string,
  legacy: ScryptGate = defaultScryptGate,
): Promise<boolean> {
  const match = format.exec(stored);
  if (!match) return isPasswordHash(stored) ? legacy.run(() => verifyPassword(secret, stored)) : false;
  const [, count, saltB64, hashB64] = match;
  const rounds = Number(count);
  if (rounds < 1 || rounds > maxIterations) return false;
  const expected = Buffer.from(hashB64 ?? "", "base64");
  if (expected.length !== hashLength) return false;
  const actual = pbkdf2Sync(secret, Buffer.from(saltB64 ?? "", "base64"), rounds, hashLength, "sha512");
  return timingSafeEqual(actual, expected);
}

/**
 * At most `limit` scrypt verifications at once; the others wait in line. Each takes a thread-pool thread for about
 * 70 ms: unbounded, a storm of logins with old entries (or of wrong passwords for them) would delay every file read
 * and DNS lookup of the bridge (SEQR's host name inside the 20-second rule).
 */
export class ScryptGate {
  readonly #limit: number;
  #running = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(limit: number) {
    this.#limit = limit;
  }

  get running(): number {
    return this.#running;
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.#running >= this.#limit) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    else this.#running += 1;
    try {
      return await work();
    } finally {
      const next = this.#waiting.shift();
      // The slot passes straight to the next in line; only when nobody waits is it given back.
      if (next) next();
      else this.#running -= 1;
    }
  }
}

/** Two of the four default thread-pool threads at most: the rest stay free for files and DNS. */
const defaultScryptGate = new ScryptGate(2);
