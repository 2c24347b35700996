import { vi } from "vitest";

/**
 * `vi.waitFor` with a deadline fit for a loaded 2-core machine: its 1 s default turns a slow pty or a busy CI runner
 * into a failure. A condition that never holds still fails, only later.
 */
export function eventually<T>(condition: () => T | Promise<T>, timeoutMs = 20_000): Promise<T> {
  return vi.waitFor(condition, { timeout: timeoutMs, interval: 20 });
}
