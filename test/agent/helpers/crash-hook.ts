import type { JournalHooks, WritePoint } from "../../../agent/journal/journal.ts";
import { writePoints } from "../../../agent/journal/journal.ts";

/**
 * A test hook for crash tests, nothing else: `VEND_AGENT_CRASH_AT=<write point>[:n]` makes the process kill itself
 * with SIGKILL right after the n-th (default first) durable write at that point, as a power cut would. Only the
 * test preload (crash-preload.ts) reads the variable and installs the hook; the production binary never does.
 */
export function crashHookFromEnv(
  value: string | undefined,
  kill: () => void = () => process.kill(process.pid, "SIGKILL"),
): JournalHooks | undefined {
  if (!value) return undefined;
  const [point, countText] = value.split(":");
  if (!(writePoints as readonly string[]).includes(point ?? "")) {
    throw new Error(`VEND_AGENT_CRASH_AT: '${point}' is not a write point (${writePoints.join(", ")})`);
  }
  const target = countText === undefined ? 1 : Number(countText);
  if (!Number.isInteger(target) || target < 1) throw new Error(`VEND_AGENT_CRASH_AT: '${countText}' is not a count`);
  let seen = 0;
  return {
    afterWrite(written: WritePoint) {
      if (written !== point) return;
      seen += 1;
      if (seen === target) kill();
    },
  };
}
