import { describe, expect, it } from "vitest";
import {
  type AlarmFacts,
  type AlarmThresholds,
  activeAlarms,
  alarmChanges,
  nextAlarmDue,
} from "../../backend-bridge/alarms/alarm-rules.ts";
import { PresenceLog } from "../../backend-bridge/alarms/presence-log.ts";

const minute = 60_000;
const hour = 60 * minute;
const thresholds: AlarmThresholds = { offlineAfterMs: 10 * minute, reconciliationStuckAfterMs: 24 * hour };
const t0 = Date.UTC(2026, 0, 15, 10, 0, 0);

function facts(now: number, presence: PresenceLog, extra: Partial<AlarmFacts> = {}): AlarmFacts {
  return { now, presence: presence.all(), jammedSlots: [], reconciliation: [], ...extra };
}

describe("alarm decision", () => {
  it("raises 'machine offline' exactly N minutes after the machine went offline, not before", () => {
    const presence = new PresenceLog(t0);
    presence.observe("M1", true, t0);
    presence.observe("M1", false, t0 + minute);
    expect(activeAlarms(facts(t0 + 11 * minute - 1, presence), thresholds)).toEqual([]);
    const alarms = activeAlarms(facts(t0 + 11 * minute, presence), thresholds);
    expect(alarms).toEqual([
      expect.objectContaining({
        id: "machine-offline:M1",
        kind: "machine-offline",
        machineId: "M1",
        since: t0 + minute,
      }),
    ]);
  });

  it("clears 'machine offline' when the machine is back", () => {
    const presence = new PresenceLog(t0);
    presence.observe("M1", false, t0);
    const raised = activeAlarms(facts(t0 + 20 * minute, presence), thresholds);
    expect(raised).toHaveLength(1);
    presence.observe("M1", true, t0 + 21 * minute);
    const now = activeAlarms(facts(t0 + 21 * minute, presence), thresholds);
    expect(now).toEqual([]);
    expect(alarmChanges(raised, now)).toEqual({ raised: [], cleared: raised });
  });

  it("does not raise an alarm twice while it stays active: the same id, so no change", () => {
    const presence = new PresenceLog(t0);
    presence.observe("M1", false, t0);
    const first = activeAlarms(facts(t0 + 10 * minute, presence), thresholds);
    expect(alarmChanges([], first).raised).toHaveLength(1);
    presence.observe("M1", false, t0 + 15 * minute);
    const later = activeAlarms(facts(t0 + 30 * minute, presence), thresholds);
    expect(later).toEqual(first);
    expect(alarmChanges(first, later)).toEqual({ raised: [], cleared: [] });
  });

  it("after a bridge restart, counts an offline machine's time from the restart (the bridge knows no earlier since)", () => {
    const restartedAt = t0 + 2 * hour;
    const presence = new PresenceLog(restartedAt);
    presence.observe("M1", false, restartedAt);
    expect(presence.get("M1")).toEqual({ online: false, since: restartedAt, sinceBridgeStart: true });
    expect(activeAlarms(facts(restartedAt + 10 * minute - 1, presence), thresholds)).toEqual([]);
    expect(activeAlarms(facts(restartedAt + 10 * minute, presence), thresholds)).toHaveLength(1);
    presence.observe("M1", true, restartedAt + 11 * minute);
    presence.observe("M1", false, restartedAt + 12 * minute);
    expect(presence.get("M1")).toEqual({ online: false, since: restartedAt + 12 * minute, sinceBridgeStart: false });
  });

  it("raises a jammed slot at once and clears it when the slot is no longer jammed", () => {
    const presence = new PresenceLog(t0);
    presence.observe("M1", true, t0);
    const jammed = activeAlarms(
      facts(t0 + minute, presence, { jammedSlots: [{ machineId: "M1", selection: "A2", since: t0 + 30_000 }] }),
      thresholds,
    );
    expect(jammed).toEqual([
      expect.objectContaining({ id: "slot-jammed:M1:A2", kind: "slot-jammed", selection: "A2", since: t0 + 30_000 }),
    ]);
    const cleared = activeAlarms(facts(t0 + 2 * minute, presence), thresholds);
    expect(alarmChanges(jammed, cleared).cleared).toEqual(jammed);
  });

  it("raises a reconciliation item unresolved for M hours, exactly at M hours", () => {
    const presence = new PresenceLog(t0);
    const item = { sessionId: "S1", machineId: "M1", flaggedAt: t0, flags: ["unknown-vend"] };
    expect(activeAlarms(facts(t0 + 24 * hour - 1, presence, { reconciliation: [item] }), thresholds)).toEqual([]);
    expect(activeAlarms(facts(t0 + 24 * hour, presence, { reconciliation: [item] }), thresholds)).toEqual([
      expect.objectContaining({ id: "reconciliation-stuck:S1", sessionId: "S1", machineId: "M1", since: t0 }),
    ]);
  });

  it("orders alarms oldest first and reports a changed one (new since) as cleared and raised", () => {
    const presence = new PresenceLog(t0);
    presence.observe("M2", false, t0);
    presence.observe("M1", true, t0);
    presence.observe("M1", false, t0 + minute);
    const alarms = activeAlarms(facts(t0 + hour, presence), thresholds);
    expect(alarms.map((alarm) => alarm.machineId)).toEqual(["M2", "M1"]);
    // M1 came back and went away again between two evaluations: another episode of the same alarm.
    presence.observe("M1", true, t0 + hour);
    presence.observe("M1", false, t0 + hour + 1);
    const next = activeAlarms(facts(t0 + 2 * hour, presence), thresholds);
    const changes = alarmChanges(alarms, next);
    expect(changes.cleared.map((alarm) => alarm.since)).toEqual([t0 + minute]);
    expect(changes.raised.map((alarm) => alarm.since)).toEqual([t0 + hour + 1]);
  });
});

describe("presence log", () => {
  it("keeps the since-time while the state does not change and reports a change", () => {
    const presence = new PresenceLog(t0);
    expect(presence.observe("M1", true, t0)).toBe(true);
    expect(presence.observe("M1", true, t0 + minute)).toBe(false);
    expect(presence.get("M1")).toEqual({ online: true, since: t0, sinceBridgeStart: true });
    expect(presence.observe("M1", false, t0 + 2 * minute)).toBe(true);
    expect(presence.get("M1")).toEqual({ online: false, since: t0 + 2 * minute, sinceBridgeStart: false });
  });
});

describe("next alarm due", () => {
  it("is the earliest time a threshold will be crossed, so that the shell wakes exactly then", () => {
    const presence = new PresenceLog(t0);
    presence.observe("M1", true, t0);
    presence.observe("M1", false, t0 + minute);
    presence.observe("M2", true, t0);
    const item = { sessionId: "S1", machineId: "M2", flaggedAt: t0, flags: ["unknown-vend"] };
    expect(nextAlarmDue(facts(t0 + 2 * minute, presence, { reconciliation: [item] }), thresholds)).toBe(
      t0 + 11 * minute,
    );
    // Already raised: nothing more is due for M1; the reconciliation item is next.
    expect(nextAlarmDue(facts(t0 + 12 * minute, presence, { reconciliation: [item] }), thresholds)).toBe(
      t0 + 24 * hour,
    );
    expect(nextAlarmDue(facts(t0 + 25 * hour, presence, { reconciliation: [item] }), thresholds)).toBeUndefined();
  });
});

describe("presence log with the agent's own online time", () => {
  it("takes an exact time even for a machine seen first (a retained online after a bridge restart)", () => {
    const presence = new PresenceLog(t0 + hour);
    expect(presence.observe("M1", true, t0, { exact: true })).toBe(true);
    expect(presence.get("M1")).toEqual({ online: true, since: t0, sinceBridgeStart: false });
    presence.observe("M2", false, t0 + hour);
    presence.observe("M2", true, t0 + 2 * hour, { exact: true });
    expect(presence.get("M2")).toEqual({ online: true, since: t0 + 2 * hour, sinceBridgeStart: false });
  });
});
