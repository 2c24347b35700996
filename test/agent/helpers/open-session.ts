import type { OpenSession } from "../../../agent/journal/journal-state.ts";

/** A journal's open multi-vend session with nothing spent yet (1,000 minor EUR budget), with any field overridden. */
export function openSession(sessionId: string, overrides: Partial<OpenSession> = {}): OpenSession {
  return {
    sessionId,
    commandId: `cmd-${sessionId}`,
    budgetMinor: 1_000,
    currency: "EUR",
    mode: "multi-vend",
    openedAt: 0,
    spentMinor: 0,
    vendedCount: 0,
    vendedTotalMinor: 0,
    unknownCount: 0,
    ...overrides,
  };
}
