/**
 * Reconnect delays for a device that went away: exponential from `initialMs`, capped at `maxMs`, with "equal jitter"
 * (half fixed, half random) so that several agents on one power circuit don't hammer their USB hubs in lock step,
 * while a replugged adapter is still found within about one capped delay.
 */
export interface BackoffSettings {
  initialMs: number;
  maxMs: number;
}

export const defaultSerialBackoff: BackoffSettings = { initialMs: 250, maxMs: 10_000 };

export function backoffDelayMs(attempt: number, settings: BackoffSettings, random: () => number = Math.random): number {
  const exponential = settings.initialMs * 2 ** Math.min(attempt, 30);
  const capped = Math.min(settings.maxMs, exponential);
  return Math.round(capped / 2 + random() * (capped / 2));
}
