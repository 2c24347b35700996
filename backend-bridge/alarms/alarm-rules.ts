import type { MachinePresence } from "./presence-log.ts";

/**
 * The alarm decision, pure: what the bridge knows now (presence since-times, jammed slots, unresolved reconciliation
 * items) and the thresholds in, the set of active alarms out. The shell (alarm-monitor.ts) gathers the facts, calls
 * this on a timer and on presence changes, and reports what `alarmChanges` finds raised or cleared.
 */

export const alarmKinds = ["machine-offline", "slot-jammed", "reconciliation-stuck"] as const;
export type AlarmKind = (typeof alarmKinds)[number];

export interface Alarm {
  /** Stable while the condition lasts: kind and subject. A webhook receiver can deduplicate on it with `since`. */
  id: string;
  kind: AlarmKind;
  machineId: string;
  selection?: string;
  sessionId?: string;
  /** When the condition began (not when the alarm was raised). */
  since: number;
  message: string;
}

export interface JammedSlot {
  machineId: string;
  selection: string;
  since: number;
}

export interface OpenReconciliation {
  sessionId: string;
  machineId: string;
  /** The latest flag of the purchase: its resolution is due since then. */
  flaggedAt: number;
  flags: readonly string[];
}

export interface AlarmFacts {
  now: number;
  presence: readonly MachinePresence[];
  jammedSlots: readonly JammedSlot[];
  reconciliation: readonly OpenReconciliation[];
}

export interface AlarmThresholds {
  offlineAfterMs: number;
  reconciliationStuckAfterMs: number;
}

/** Messages name the start of the condition, never its duration: an alarm stays the same while it lasts. */
function iso(at: number): string {
  return new Date(at).toISOString();
}

export function activeAlarms(facts: AlarmFacts, thresholds: AlarmThresholds): Alarm[] {
  const alarms: Alarm[] = [];
  for (const machine of facts.presence) {
    if (machine.online || facts.now - machine.since < thresholds.offlineAfterMs) continue;
    alarms.push({
      id: `machine-offline:${machine.machineId}`,
      kind: "machine-offline",
      machineId: machine.machineId,
      since: machine.since,
      message: `${machine.machineId} offline since ${machine.sinceBridgeStart ? "the bridge started, " : ""}${iso(machine.since)}`,
    });
  }
  for (const slot of facts.jammedSlots) {
    alarms.push({
      id: `slot-jammed:${slot.machineId}:${slot.selection}`,
      kind: "slot-jammed",
      machineId: slot.machineId,
      selection: slot.selection,
      since: slot.since,
      message: `${slot.machineId} selection ${slot.selection} jammed at ${iso(slot.since)}`,
    });
  }
  for (const item of facts.reconciliation) {
    if (facts.now - item.flaggedAt < thresholds.reconciliationStuckAfterMs) continue;
    alarms.push({
      id: `reconciliation-stuck:${item.sessionId}`,
      kind: "reconciliation-stuck",
      machineId: item.machineId,
      sessionId: item.sessionId,
      since: item.flaggedAt,
      message: `purchase ${item.sessionId} (${item.flags.join(", ")}) unresolved since ${iso(item.flaggedAt)}`,
    });
  }
  return alarms.sort((a, b) => a.since - b.since || a.id.localeCompare(b.id));
}

/** One episode of an alarm: the same id with another `since` is a new episode (cleared, then raised again). */
function episode(alarm: Alarm): string {
  return `${alarm.id}@${alarm.since}`;
}

export function alarmChanges(
  previous: readonly Alarm[],
  next: readonly Alarm[],
): { raised: Alarm[]; cleared: Alarm[] } {
  const before = new Set(previous.map(episode));
  const after = new Set(next.map(episode));
  return {
    raised: next.filter((alarm) => !before.has(episode(alarm))),
    cleared: previous.filter((alarm) => !after.has(episode(alarm))),
  };
}

/** The earliest time a threshold not crossed yet will be: the shell evaluates then, so alarms are raised on time. */
export function nextAlarmDue(facts: AlarmFacts, thresholds: AlarmThresholds): number | undefined {
  const due = [
    ...facts.presence.filter((machine) => !machine.online).map((machine) => machine.since + thresholds.offlineAfterMs),
    ...facts.reconciliation.map((item) => item.flaggedAt + thresholds.reconciliationStuckAfterMs),
  ].filter((at) => at > facts.now);
  return due.length === 0 ? undefined : Math.min(...due);
}
