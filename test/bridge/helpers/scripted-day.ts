import type { Harness } from "./harness.ts";
import { sessionEndedEvent, vendedEvent, vendUnknownEvent } from "./harness.ts";

/**
 * A day of sales through the real bridge (createPurchase, SEQR confirmation, unlock, the machine's events, commits
 * through the outbox), for the operator's reports. The clock starts at 2026-01-15 10:00 UTC.
 *
 * | purchase | at (UTC)         | machine | reserved  | what happens                                                    | billed   |
 * |----------|------------------|---------|-----------|-----------------------------------------------------------------|----------|
 * | p1       | 01-15 10:00      | M1      | 20.00 EUR | A1 water 1.50, A2 cola 2.00; after the commit a late A1 vend     | 3.50 EUR |
 * | p2       | 01-15 11:00      | M1      |  5.00 EUR | A2 fails, A1 water 1.50, A2 unknown (flagged)                    | 1.50 EUR |
 * | p3       | 01-15 12:00      | M1      | 10.00 EUR | nothing vended, idle timeout                                    | cancelled|
 * | p4       | 01-15 12:01      | M2      | 30.00 SEK | B1 chocolate 15.00 twice                                        | 30.00 SEK|
 * | p5       | 01-16 01:00      | M1      | 60.00 EUR | A3 sandwich 50.00, its name as the machine sent it: a formula    | 50.00 EUR|
 */
export interface ScriptedDay {
  p1: string;
  p2: string;
  p3: string;
  p4: string;
  p5: string;
}

export const formulaName = '=HYPERLINK("http://evil.example","Sandwich")';

const hour = 3_600_000;

/** Time passes with nothing open: jump, then fire what fell due once (advance would run the outbox poll per second). */
async function later(h: Harness, ms: number): Promise<void> {
  h.clock.jump(ms);
  await h.clock.advance(0);
}

export async function runScriptedDay(h: Harness): Promise<ScriptedDay> {
  const p1 = await h.reservedPurchase();
  await h.fleet.emit("M1", "unlocked", { sessionId: p1.sessionId, commandId: "x", budgetMinor: 2000, currency: "EUR" });
  await h.fleet.emit("M1", "vended", vendedEvent(p1.sessionId, "v1", 150, "A1"));
  await h.fleet.emit("M1", "vended", vendedEvent(p1.sessionId, "v2", 200, "A2"));
  await h.fleet.emit("M1", "session-ended", sessionEndedEvent(p1.sessionId, 2, 350));
  await h.drainOutbox();
  await h.waitForState(p1.reference, "committed");
  // The machine reports one more vend after billing closed: stored and flagged, never charged.
  await h.fleet.emit("M1", "vended", vendedEvent(p1.sessionId, "v9", 150, "A1"));
  await h.quiesce();

  await later(h, hour);
  const p2Reference = await h.purchase("M1", 5);
  const p2 = await h.reserve(p2Reference);
  await h.fleet.emit("M1", "unlocked", { sessionId: p2, commandId: "x", budgetMinor: 500, currency: "EUR" });
  await h.fleet.emit("M1", "vend-failed", {
    sessionId: p2,
    vendId: "v1",
    selection: "A2",
    priceMinor: 200,
    currency: "EUR",
    outcome: "not-delivered",
    evidence: "vend-failure",
  });
  await h.fleet.emit("M1", "vended", vendedEvent(p2, "v2", 150, "A1"));
  await h.fleet.emit("M1", "vend-unknown", vendUnknownEvent(p2, "v3"));
  await h.fleet.emit("M1", "session-ended", sessionEndedEvent(p2, 1, 150, 1));
  await h.drainOutbox();
  await h.waitForState(p2Reference, "committed");

  await later(h, hour);
  const p3Reference = await h.purchase("M1", 10);
  const p3 = await h.reserve(p3Reference);
  await h.fleet.emit("M1", "unlocked", { sessionId: p3, commandId: "x", budgetMinor: 1000, currency: "EUR" });
  await h.fleet.emit("M1", "session-ended", { ...sessionEndedEvent(p3, 0, 0), reason: "idle-timeout" });
  await h.drainOutbox();
  await h.waitForState(p3Reference, "cancelled");

  await later(h, 60_000);
  const p4Reference = await h.purchase("M2", 30, "SEK");
  const p4 = await h.reserve(p4Reference);
  await h.fleet.emit("M2", "unlocked", { sessionId: p4, commandId: "x", budgetMinor: 3000, currency: "SEK" });
  for (const vendId of ["v1", "v2"]) {
    await h.fleet.emit("M2", "vended", {
      sessionId: p4,
      vendId,
      selection: "B1",
      sku: "CHOC",
      name: "Chocolate",
      priceMinor: 1500,
      currency: "SEK",
      evidence: "vend-success",
    });
  }
  await h.fleet.emit("M2", "session-ended", { ...sessionEndedEvent(p4, 2, 3000), currency: "SEK" });
  await h.drainOutbox();
  await h.waitForState(p4Reference, "committed");

  await later(h, 13 * hour);
  const p5Reference = await h.purchase("M1", 60);
  const p5 = await h.reserve(p5Reference);
  await h.fleet.emit("M1", "unlocked", { sessionId: p5, commandId: "x", budgetMinor: 6000, currency: "EUR" });
  await h.fleet.emit("M1", "vended", { ...vendedEvent(p5, "v1", 5000, "A3"), name: formulaName });
  await h.fleet.emit("M1", "session-ended", sessionEndedEvent(p5, 1, 5000));
  await h.drainOutbox();
  await h.waitForState(p5Reference, "committed");
  return { p1: p1.sessionId, p2, p3, p4, p5 };
}
