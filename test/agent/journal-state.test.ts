import { describe, expect, it } from "vitest";
import {
  applyRecord,
  emptyState,
  type JournalRecord,
  type JournalState,
  type OpenSession,
  type PendingPayment,
  type StoredEvent,
  serializeState,
  type VendRecord,
  vendsInFlight,
} from "../../agent/journal/journal-state.ts";
import { openSession } from "./helpers/open-session.ts";

/** applyRecord's rules one by one: a record about one session never changes another's state. */

const session = (sessionId: string): OpenSession => openSession(sessionId);

const pending = (sessionId: string): PendingPayment => ({ sessionId, amountMinor: 500, currency: "EUR", since: 0 });

const vend = (vendId: string, sessionId: string, state: VendRecord["state"] = "in-flight"): VendRecord => ({
  vendId,
  sessionId,
  selection: "A1",
  sku: "W",
  name: "Water",
  priceMinor: 150,
  currency: "EUR",
  state,
  approvedAt: 0,
});

/** Only the fields applyRecord reads; the rest of the payload does not matter here. */
const event = (eventId: string, seq: number) => ({ name: "pong", payload: { eventId, seq } }) as unknown as StoredEvent;

const apply = (state: JournalState, ...records: JournalRecord[]) =>
  records.reduce((current, record) => applyRecord(current, record), state);

describe("journal state: one session's record leaves another's alone", () => {
  it("clears a pending payment only for its own session", () => {
    const state = apply(emptyState(), { c: { t: "payment-pending", pending: pending("s2") } });
    apply(state, { c: { t: "payment-cleared", sessionId: "s1" } });
    expect(state.pending?.sessionId).toBe("s2");
    expect(state.closedSessions.has("s1")).toBe(true);
    apply(state, { c: { t: "payment-cleared", sessionId: "s2" } });
    expect(state.pending).toBeNull();
  });

  it("ends the open session and its pending payment only when they are the ended session's", () => {
    const state = apply(
      emptyState(),
      { c: { t: "session-open", session: session("s2") } },
      { c: { t: "payment-pending", pending: pending("s3") } },
      { c: { t: "session-end", sessionId: "s1" } },
    );
    expect(state.session?.sessionId).toBe("s2");
    expect(state.pending?.sessionId).toBe("s3");
    apply(state, { c: { t: "session-end", sessionId: "s3" } });
    expect(state.pending).toBeNull();
    expect(state.session?.sessionId).toBe("s2");
    apply(state, { c: { t: "session-end", sessionId: "s2" } });
    expect(state.session).toBeNull();
  });

  it("drops the ended session's finished vends, keeps one still in flight and other sessions' vends", () => {
    const state = apply(
      emptyState(),
      { c: { t: "vend-approved", vend: vend("v1", "s1", "delivered") } },
      { c: { t: "vend-approved", vend: vend("v2", "s1", "in-flight") } },
      { c: { t: "vend-approved", vend: vend("v3", "s2", "failed") } },
      { c: { t: "session-end", sessionId: "s1" } },
    );
    expect([...state.vends.keys()].sort()).toEqual(["v2", "v3"]);
  });

  it("counts a vend's result only in its own session (not in one opened after a crash left it in flight)", () => {
    const state = apply(
      emptyState(),
      { c: { t: "vend-approved", vend: vend("old", "s1") } },
      { c: { t: "session-open", session: session("s2") } },
      { c: { t: "vend-result", vendId: "old", result: "delivered" } },
    );
    expect(state.vends.get("old")?.state).toBe("delivered");
    expect(state.session).toMatchObject({ sessionId: "s2", spentMinor: 0, vendedCount: 0, vendedTotalMinor: 0 });
  });

  it("keeps the highest event seq, whatever order events come in", () => {
    const state = apply(emptyState(), { c: { t: "note" }, e: [event("e5", 5), event("e3", 3)] });
    expect(state.eventSeq).toBe(5);
    expect([...state.outbox.keys()]).toEqual(["e5", "e3"]);
  });

  it("a snapshot keeps the remembered commands and the vends", () => {
    const state = apply(
      emptyState(),
      { c: { t: "vend-approved", vend: vend("v1", "s1") } },
      { c: { t: "note" }, s: { commandId: "c-1", expiresAt: 99 } },
    );
    const restored = applyRecord(emptyState(), { c: { t: "snapshot", state: serializeState(state) } });
    expect([...restored.seenCommands]).toEqual([["c-1", 99]]);
    expect([...restored.vends.values()]).toEqual([vend("v1", "s1")]);
  });

  it("counts a delivered vend and an unknown one in their session; a failed one costs nothing", () => {
    const state = apply(
      emptyState(),
      { c: { t: "session-open", session: session("s1") } },
      { c: { t: "vend-approved", vend: vend("v1", "s1") } },
      { c: { t: "vend-approved", vend: vend("v2", "s1") } },
      { c: { t: "vend-approved", vend: vend("v3", "s1") } },
      { c: { t: "vend-result", vendId: "v1", result: "delivered" } },
      { c: { t: "vend-result", vendId: "v2", result: "unknown" } },
      { c: { t: "vend-result", vendId: "v3", result: "failed" } },
      // A second result for a vend that has one changes nothing.
      { c: { t: "vend-result", vendId: "v1", result: "delivered" } },
    );
    expect(state.session).toMatchObject({ spentMinor: 300, vendedCount: 1, vendedTotalMinor: 150, unknownCount: 1 });
  });

  it("lists only the vends still in flight", () => {
    const state = apply(
      emptyState(),
      { c: { t: "vend-approved", vend: vend("v1", "s1", "delivered") } },
      { c: { t: "vend-approved", vend: vend("v2", "s1") } },
    );
    expect(vendsInFlight(state).map((record) => record.vendId)).toEqual(["v2"]);
  });
});
