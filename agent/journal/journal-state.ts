import type { EventName, EventPayload } from "../../protocol/messages.ts";

/**
 * What the agent must remember across a crash or a power cut, and the records that change it. The state is rebuilt
 * by applying the records in order (`applyRecord`), at run time and on recovery alike, so both can never disagree.
 */

export type SessionMode = "single-vend" | "multi-vend";

/** An event as published and kept in the outbox until the backend acknowledges it. */
export type StoredEvent = { [N in EventName]: { name: N; payload: EventPayload<N> } }[EventName];

export interface PendingPayment {
  sessionId: string;
  amountMinor: number;
  currency: string;
  since: number;
}

export interface OpenSession {
  sessionId: string;
  commandId: string;
  budgetMinor: number;
  currency: string;
  mode: SessionMode;
  openedAt: number;
  /** Delivered plus unknown: an unknown vend may have delivered, so its price is no longer available to spend. */
  spentMinor: number;
  vendedCount: number;
  vendedTotalMinor: number;
  unknownCount: number;
}

export type VendState = "in-flight" | "delivered" | "failed" | "unknown";

export interface VendRecord {
  vendId: string;
  sessionId: string;
  selection: string;
  sku: string;
  name: string;
  priceMinor: number;
  currency: string;
  state: VendState;
  approvedAt: number;
}

export interface JournalState {
  bootSeq: number;
  bootId: string | null;
  /** The seq of the last event written; the next event takes eventSeq + 1. */
  eventSeq: number;
  /** Unacknowledged events by eventId, oldest first. */
  outbox: Map<string, StoredEvent>;
  /** Commands already acted on (or refused), by commandId -> expiresAt, to refuse replays. */
  seenCommands: Map<string, number>;
  pending: PendingPayment | null;
  session: OpenSession | null;
  /** Vends of the open session (and any left in flight by a crash). */
  vends: Map<string, VendRecord>;
  /**
   * Sessions this machine ended (or whose pending payment it cleared), oldest first, at most maxClosedSessions: a late
   * unlock or payment-pending for one of them is refused, since the backend has been told it is over and will not
   * bill it.
   */
  closedSessions: Set<string>;
}

/** How many ended sessionIds are remembered; far more than the commands that can still be in flight for them. */
export const maxClosedSessions = 1_000;

export type VendResult = "delivered" | "failed" | "unknown";

/** The state change a record makes. */
export type Change =
  | { t: "boot"; bootSeq: number; bootId: string }
  | { t: "payment-pending"; pending: PendingPayment }
  | { t: "payment-cleared"; sessionId: string }
  | { t: "session-open"; session: OpenSession }
  | { t: "vend-approved"; vend: VendRecord }
  | { t: "vend-result"; vendId: string; result: VendResult }
  | { t: "session-end"; sessionId: string }
  | { t: "ack"; eventIds: string[] }
  /** Only events (fault, command-rejected, pong) or a remembered commandId; no other change. */
  | { t: "note" }
  | { t: "snapshot"; state: SerializedState };

export interface JournalRecord {
  c: Change;
  /** Events written with the change: they are in the outbox from the moment the record is on disk. */
  e?: StoredEvent[];
  /** A commandId to remember, with its expiry (after which an expired-command refusal covers replays). */
  s?: { commandId: string; expiresAt: number };
}

export interface SerializedState {
  bootSeq: number;
  bootId: string | null;
  eventSeq: number;
  outbox: StoredEvent[];
  seenCommands: [string, number][];
  pending: PendingPayment | null;
  session: OpenSession | null;
  vends: VendRecord[];
  /** Absent in snapshots written before it existed. */
  closedSessions?: string[];
}

export function emptyState(): JournalState {
  return {
    bootSeq: 0,
    bootId: null,
    eventSeq: 0,
    outbox: new Map(),
    seenCommands: new Map(),
    pending: null,
    session: null,
    vends: new Map(),
    closedSessions: new Set(),
  };
}

export function serializeState(state: JournalState): SerializedState {
  return {
    bootSeq: state.bootSeq,
    bootId: state.bootId,
    eventSeq: state.eventSeq,
    outbox: [...state.outbox.values()],
    seenCommands: [...state.seenCommands.entries()],
    pending: state.pending,
    session: state.session,
    vends: [...state.vends.values()],
    closedSessions: [...state.closedSessions],
  };
}

function deserializeState(serialized: SerializedState): JournalState {
  return {
    bootSeq: serialized.bootSeq,
    bootId: serialized.bootId,
    eventSeq: serialized.eventSeq,
    outbox: new Map(serialized.outbox.map((event) => [event.payload.eventId, event])),
    seenCommands: new Map(serialized.seenCommands),
    pending: serialized.pending,
    session: serialized.session,
    vends: new Map(serialized.vends.map((vend) => [vend.vendId, vend])),
    closedSessions: new Set(serialized.closedSessions ?? []),
  };
}

/** Applies one record to the state, in place. Records are trusted (they passed the checksum and were written by us). */
export function applyRecord(state: JournalState, record: JournalRecord): JournalState {
  const change = record.c;
  let next = state;
  switch (change.t) {
    case "snapshot":
      next = deserializeState(change.state);
      break;
    case "boot":
      next.bootSeq = change.bootSeq;
      next.bootId = change.bootId;
      break;
    case "payment-pending":
      next.pending = change.pending;
      break;
    case "payment-cleared":
      if (next.pending?.sessionId === change.sessionId) next.pending = null;
      rememberClosed(next, change.sessionId);
      break;
    case "session-open":
      next.pending = null;
      next.session = { ...change.session };
      break;
    case "vend-approved":
      next.vends.set(change.vend.vendId, { ...change.vend });
      break;
    case "vend-result": {
      const vend = next.vends.get(change.vendId);
      if (vend?.state !== "in-flight") break;
      vend.state = change.result;
      const session = next.session;
      if (session && session.sessionId === vend.sessionId) {
        if (change.result === "delivered") {
          session.vendedCount += 1;
          session.vendedTotalMinor += vend.priceMinor;
          session.spentMinor += vend.priceMinor;
        } else if (change.result === "unknown") {
          session.unknownCount += 1;
          session.spentMinor += vend.priceMinor;
        }
      }
      break;
    }
    case "session-end":
      if (next.session?.sessionId === change.sessionId) next.session = null;
      if (next.pending?.sessionId === change.sessionId) next.pending = null;
      // Finished vends of the session are in the events now; only one still in flight would matter, and a session
      // ends only once its vend has a result.
      for (const [vendId, vend] of next.vends) {
        if (vend.sessionId === change.sessionId && vend.state !== "in-flight") next.vends.delete(vendId);
      }
      rememberClosed(next, change.sessionId);
      break;
    case "ack":
      for (const eventId of change.eventIds) next.outbox.delete(eventId);
      break;
    case "note":
      break;
  }
  for (const event of record.e ?? []) {
    next.outbox.set(event.payload.eventId, event);
    if (event.payload.seq > next.eventSeq) next.eventSeq = event.payload.seq;
  }
  if (record.s) next.seenCommands.set(record.s.commandId, record.s.expiresAt);
  return next;
}

function rememberClosed(state: JournalState, sessionId: string): void {
  state.closedSessions.delete(sessionId); // re-inserted as the newest
  state.closedSessions.add(sessionId);
  for (const oldest of state.closedSessions) {
    if (state.closedSessions.size <= maxClosedSessions) break;
    state.closedSessions.delete(oldest);
  }
}

export function vendsInFlight(state: JournalState): VendRecord[] {
  return [...state.vends.values()].filter((vend) => vend.state === "in-flight");
}
