import type { Availability } from "../../protocol/messages.ts";

/**
 * Which availability message wins, per machine. MQTT orders messages per topic and connection only: a broker may
 * publish a dead connection's LWT ("offline", old boot) after the agent has already restarted and said "online"
 * (new boot), and retained copies can arrive twice (once retained on subscribe, once live). So:
 *  - a larger bootSeq always wins, a smaller one is stale and ignored;
 *  - within one boot, "offline" wins over "online" (the LWT's ts is the time of CONNECT, older than the online it
 *    follows, so ts cannot order them), and a later "online" (reconnect of the same boot) has a larger ts than the
 *    online it replaces: an "online" whose ts is not newer than the boot's last online is a redelivered copy; a newer
 *    one while already online is a reconnect of the agent (after a broker restart, say) and is accepted as a change,
 *    so that listeners resend what the agent may have missed while it was away;
 *  - same bootSeq but another bootId (the agent lost its journal): the later ts wins.
 */

export interface AvailabilityRecord {
  current: Availability;
  /** ts of the last accepted "online" of the current boot. */
  lastOnlineTs: number | undefined;
}

export type AvailabilityDecision = "accept" | "same" | "stale";

export function decideAvailability(record: AvailabilityRecord | undefined, next: Availability): AvailabilityDecision {
  if (!record) return "accept";
  const current = record.current;
  if (next.bootSeq > current.bootSeq) return "accept";
  if (next.bootSeq < current.bootSeq) return "stale";
  if (next.bootId !== current.bootId) return next.ts > current.ts ? "accept" : "stale";
  if (next.state === "offline") return current.state === "offline" ? "same" : "accept";
  if (current.state === "online" && record.lastOnlineTs !== undefined && next.ts === record.lastOnlineTs) return "same";
  return record.lastOnlineTs === undefined || next.ts > record.lastOnlineTs ? "accept" : "stale";
}

export class AvailabilityTracker {
  readonly #records = new Map<string, AvailabilityRecord>();

  /** Applies a message; returns true when the machine's availability changed (listeners should hear of it). */
  apply(machineId: string, next: Availability): { decision: AvailabilityDecision; changed: boolean } {
    const record = this.#records.get(machineId);
    const decision = decideAvailability(record, next);
    if (decision === "stale") return { decision, changed: false };
    const sameBoot =
      record !== undefined && record.current.bootSeq === next.bootSeq && record.current.bootId === next.bootId;
    const lastOnlineTs =
      next.state === "online"
        ? Math.max(next.ts, sameBoot ? (record.lastOnlineTs ?? 0) : 0)
        : sameBoot
          ? record.lastOnlineTs
          : undefined;
    const changed = decision === "accept";
    this.#records.set(machineId, { current: changed ? next : (record?.current ?? next), lastOnlineTs });
    return { decision, changed };
  }

  /** A retained availability was deleted (empty payload): the machine is no longer known. */
  forget(machineId: string): boolean {
    return this.#records.delete(machineId);
  }

  get(machineId: string): Availability | undefined {
    return this.#records.get(machineId)?.current;
  }

  isOnline(machineId: string): boolean {
    return this.#records.get(machineId)?.current.state === "online";
  }

  onlineCount(): number {
    let count = 0;
    for (const record of this.#records.values()) if (record.current.state === "online") count++;
    return count;
  }
}
