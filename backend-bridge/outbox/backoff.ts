/**
 * Exponential backoff with jitter: attempt 0 waits about `baseMs`, each next one twice as long, capped at `maxMs`.
 * The jitter (50-100 % of the step) keeps a fleet's retries from marching in step after a SEQR outage.
 */
export function backoffDelayMs(
  attempt: number,
  options: { baseMs: number; maxMs: number },
  random: () => number = Math.random,
): number {
  const step = Math.min(options.maxMs, options.baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(step * (0.5 + random() * 0.5));
}
