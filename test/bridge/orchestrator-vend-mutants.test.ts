import { expect, it } from "vitest";
import {
  describeEachStore,
  sessionEndedEvent,
  vendedEvent,
  vendFailedEvent,
  vendUnknownEvent,
} from "./helpers/harness.ts";

/**
 * The orchestrator's vend events, at the points its first mutation run (docs/mutation-report.md, 2026-12-03) found
 * untested: the reservation's boundary, what the flag records, the stored outcome of a vend that was not billed,
 * and the deadline of the invoice update each vend arms.
 */

describeEachStore("orchestrator: vend events", (start) => {
  it("a bill of exactly the reservation is not flagged above it", async () => {
    const h = await start();
    const { reference, sessionId } = await h.unlockedPurchase("2.00");
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v1", 200, "A2"));
    await h.fleet.emit("M1", "session-ended", sessionEndedEvent(sessionId, 1, 200));
    await h.drainOutbox();
    const purchase = await h.waitForState(reference, "committed");
    expect(purchase.billedMinor).toBe(200);
    expect(purchase.reconciliation ?? "").not.toContain("vended-above-reservation");
  });

  it("a bill above the reservation is flagged with the total the machine reported vended", async () => {
    const h = await start();
    const { sessionId } = await h.unlockedPurchase("2.00");
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v1"));
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v2"));
    const flag = (await h.store.listAudit(sessionId)).find(
      (entry) => entry.reason === "reconcile:vended-above-reservation",
    );
    expect(flag?.detail).toMatchObject({ billedSoFar: 300 });
  });

  it("stores a failed vend as failed and audits it, and an unknown one as unknown and flags it", async () => {
    const h = await start();
    const { sessionId } = await h.reservedPurchase();
    await h.fleet.emit("M1", "unlocked", { sessionId, commandId: "x", budgetMinor: 2000, currency: "EUR" });
    await h.fleet.emit("M1", "vend-failed", vendFailedEvent(sessionId, "v1", "jammed"));
    await h.fleet.emit("M1", "vend-unknown", vendUnknownEvent(sessionId, "v2"));
    const vends = await h.store.listVends(sessionId);
    expect(vends.map((vend) => [vend.vendId, vend.outcome])).toEqual([
      ["v1", "failed"],
      ["v2", "unknown"],
    ]);
    const audit = await h.store.listAudit(sessionId);
    const failed = audit.filter((entry) => entry.reason === "vend-failed");
    expect(failed.map((entry) => entry.detail)).toEqual([{ vendId: "v1", outcome: "jammed" }]);
    expect(audit.filter((entry) => entry.reason === "reconcile:unknown-vend").map((entry) => entry.detail)).toEqual([
      expect.objectContaining({ vendId: "v2" }),
    ]);
    // The failed vend is no reconciliation item: only the unknown one is.
    const purchase = await h.store.getPurchase(sessionId);
    expect(purchase?.reconciliation).toBe("unknown-vend");
  });

  it("each vend's invoice update must reach SEQR half a commit margin before the forced end of the session", async () => {
    const h = await start();
    const { sessionId } = await h.reservedPurchase();
    await h.fleet.emit("M1", "unlocked", { sessionId, commandId: "x", budgetMinor: 2000, currency: "EUR" });
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v1"));
    const purchase = await h.store.getPurchase(sessionId);
    const update = await h.store.getOutbox(sessionId, "updateInvoice");
    // commitReservationTimeoutSeconds 600 in the harness: the margin is min(60 s, 600 s / 5) = 60 s.
    const commitDeadline = (purchase?.invoicedAt ?? 0) + 600_000;
    expect(update?.deadlineAt).toBe(commitDeadline - 30_000);
  });
});
