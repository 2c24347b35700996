import type { Clock } from "../../platform/clock.ts";

export class CallTimeoutError extends Error {
  readonly timeoutMs: number;

  constructor(what: string, timeoutMs: number) {
    super(`${what}: no answer within ${timeoutMs} ms`);
    this.name = "CallTimeoutError";
    this.timeoutMs = timeoutMs;
  }
}

/**
 * Bounds a call we are waiting on (inside an HTTP request or a status check) on the injected clock. The call itself
 * may still finish later; callers treat a timeout as "outcome unknown".
 */
export function withTimeout<T>(work: Promise<T>, ms: number, clock: Clock, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = clock.setTimeout(() => reject(new CallTimeoutError(what, ms)), ms);
    work.then(
      (value) => {
        clock.clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clock.clearTimeout(timer);
        reject(error);
      },
    );
  });
}
