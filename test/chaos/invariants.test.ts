import { describe, expect, it } from "vitest";
import {
  type CheckContext,
  checkInvariants,
  describeVerdict,
  type InvariantName,
  type PhysicalRecord,
  type SandboxRecord,
  type StoreRecord,
} from "./invariants.ts";

/**
 * The chaos checker must pass a run where every drop was billed once, and must FAIL when the records are doctored:
 * an extra drop (a product given away), a missing drop (billed but never dropped), a double bill, and the other
 * invariants each broken once. A checker that cannot fail would let the chaos test pass whatever the product does.
 */

const t0 = Date.parse("2026-12-02T08:00:00Z");
const context: CheckContext = {
  machines: ["M1", "M2"],
  prices: { M1: { A1: 150, A2: 200 }, M2: { A1: 150, A2: 200 } },
  createPurchaseDeadlineMs: 5_000,
  bridgeOutages: [{ from: t0 + 100_000, to: t0 + 110_000 }],
};

/** A clean run: M1 sold A1+A2 in one session (billed 350), M2 one A1 (billed 150) and one session declined. */
function cleanRun(): { sandbox: SandboxRecord; store: StoreRecord; physical: PhysicalRecord } {
  const sandbox: SandboxRecord = {
    invoices: [
      {
        invoiceReference: "1000000000001",
        clientInvoiceId: "s1",
        status: "PAID",
        reserved: { minor: 500 },
        paid: { minor: 350 },
        history: [{ event: "sendInvoice" }, { event: "confirm" }, { event: "commitReservation" }],
      },
      {
        invoiceReference: "1000000000002",
        clientInvoiceId: "s2",
        status: "PAID",
        reserved: { minor: 500 },
        paid: { minor: 150 },
        history: [{ event: "sendInvoice" }, { event: "confirm" }, { event: "commitReservation" }],
      },
      {
        invoiceReference: "1000000000003",
        clientInvoiceId: "s3",
        status: "CANCELED",
        history: [{ event: "sendInvoice" }, { event: "customer cancel" }],
      },
    ],
    scans: [
      { machineId: "M1", startedAt: t0, answeredAt: t0 + 300, kind: "invoice", invoiceReference: "1000000000001" },
      { machineId: "M2", startedAt: t0, answeredAt: t0 + 400, kind: "invoice", invoiceReference: "1000000000002" },
      { machineId: "M2", startedAt: t0 + 50_000, answeredAt: t0 + 50_300, kind: "invoice" },
      // The bridge was killed: no answer, not its fault.
      { machineId: "M1", startedAt: t0 + 101_000, answeredAt: t0 + 101_010, kind: "failed", reason: "ECONNREFUSED" },
      { machineId: "M1", startedAt: t0 + 200_000, answeredAt: t0 + 200_200, kind: "invoice", probe: true },
      { machineId: "M2", startedAt: t0 + 200_000, answeredAt: t0 + 200_200, kind: "invoice", probe: true },
    ],
  };
  const purchase = (sessionId: string, machineId: string, state: string, reference: string, billed: number | null) => ({
    sessionId,
    machineId,
    state,
    amountMinor: 500,
    invoiceReference: reference,
    billedMinor: billed,
    reconciliation: null,
    createdAt: t0,
    closedAt: t0 + 60_000,
  });
  const store: StoreRecord = {
    purchases: [
      purchase("s1", "M1", "committed", "1000000000001", 350),
      purchase("s2", "M2", "committed", "1000000000002", 150),
      purchase("s3", "M2", "cancelled", "1000000000003", null),
    ],
    vends: [
      { sessionId: "s1", vendId: "v1", selection: "A1", priceMinor: 150, outcome: "vended", at: t0 + 10_000 },
      { sessionId: "s1", vendId: "v2", selection: "A2", priceMinor: 200, outcome: "vended", at: t0 + 20_000 },
      { sessionId: "s2", vendId: "v3", selection: "A1", priceMinor: 150, outcome: "vended", at: t0 + 11_000 },
      // The same event delivered twice is one vend.
      { sessionId: "s2", vendId: "v3", selection: "A1", priceMinor: 150, outcome: "vended", at: t0 + 11_000 },
      { sessionId: "s2", vendId: "v4", selection: "A2", priceMinor: 200, outcome: "failed", at: t0 + 15_000 },
    ],
    pendingOutbox: [],
    unavailable: {},
  };
  const physical: PhysicalRecord = {
    drops: {
      M1: [
        { selection: "A1", at: t0 + 9_900 },
        { selection: "A2", at: t0 + 19_900 },
      ],
      M2: [{ selection: "A1", at: t0 + 10_900 }],
    },
  };
  return { sandbox, store, physical };
}

function violated(run: ReturnType<typeof cleanRun>): InvariantName[] {
  const verdict = checkInvariants(run.sandbox, run.store, run.physical, context);
  return [...new Set(verdict.violations.map((violation) => violation.invariant))].sort();
}

describe("the chaos checker", () => {
  it("passes a clean run and counts what it checked", () => {
    const run = cleanRun();
    const verdict = checkInvariants(run.sandbox, run.store, run.physical, context);
    expect(verdict.violations).toEqual([]);
    expect(verdict.totals).toMatchObject({ paid: 2, billedMinor: 500, drops: 3, billedVends: 3 });
    expect(describeVerdict(verdict)).toContain("ok   billed-twice");
  });

  it("FAILS on a doctored physical ledger with an extra drop: a product given away", () => {
    const run = cleanRun();
    run.physical.drops.M2!.push({ selection: "A2", at: t0 + 15_100 });
    expect(violated(run)).toEqual(["dropped-unbilled"]);
  });

  it("accepts that extra drop when the bridge flagged the session for a person", () => {
    const run = cleanRun();
    run.physical.drops.M2!.push({ selection: "A2", at: t0 + 15_100 });
    run.store.purchases[1]!.reconciliation = "vend v4 reported failed, evidence: drop sensor";
    expect(violated(run)).toEqual([]);
  });

  it("FAILS on a doctored physical ledger with a drop missing: billed but never dropped", () => {
    const run = cleanRun();
    run.physical.drops.M1!.pop();
    expect(violated(run)).toEqual(["billed-without-drop"]);
  });

  it("FAILS on a double bill: the same vend billed by a second session", () => {
    const run = cleanRun();
    run.sandbox.invoices.push({
      invoiceReference: "1000000000009",
      clientInvoiceId: "s9",
      status: "PAID",
      reserved: { minor: 500 },
      paid: { minor: 150 },
      history: [{ event: "sendInvoice" }, { event: "commitReservation" }],
    });
    run.store.purchases.push({ ...run.store.purchases[1]!, sessionId: "s9", invoiceReference: "1000000000009" });
    run.store.vends.push({ ...run.store.vends[2]!, sessionId: "s9" });
    expect(violated(run)).toEqual(["billed-twice", "billed-without-drop"]);
  });

  it("FAILS on an invoice committed twice and on a session with two paid invoices", () => {
    const run = cleanRun();
    run.sandbox.invoices[0]!.history.push({ event: "commitReservation" });
    run.sandbox.invoices.push({ ...run.sandbox.invoices[1]!, invoiceReference: "1000000000010" });
    expect(violated(run)).toContain("billed-twice");
  });

  it("FAILS when more was billed than reserved", () => {
    const run = cleanRun();
    run.sandbox.invoices[0]!.paid = { minor: 650 };
    expect(violated(run)).toContain("above-reservation");
  });

  it("FAILS when vends were recorded but not billed and nobody was told", () => {
    const run = cleanRun();
    run.sandbox.invoices[1]!.status = "CANCELED";
    run.sandbox.invoices[1]!.paid = undefined;
    run.store.purchases[1]!.state = "cancelled";
    expect(violated(run)).toEqual(["dropped-unbilled"]);
  });

  it("FAILS on a reservation left open, an open purchase or a pending outbox row", () => {
    const reserved = cleanRun();
    reserved.sandbox.invoices[2]!.status = "RESERVED";
    expect(violated(reserved)).toEqual(["reservation-open"]);
    const expired = cleanRun();
    expired.sandbox.invoices[2]!.status = "EXPIRED";
    expect(violated(expired)).toEqual(["reservation-open"]);
    const open = cleanRun();
    open.store.purchases[2]!.state = "unlocked";
    open.store.pendingOutbox.push({ sessionId: "s3", kind: "cancelInvoice" });
    expect(violated(open)).toEqual(["reservation-open"]);
  });

  it("an invoice SEQR created but never named to the bridge may stay ISSUED only when its purchase is flagged for it", () => {
    const unnamed = () => {
      const run = cleanRun();
      run.sandbox.invoices.push({
        invoiceReference: "1000000000004",
        clientInvoiceId: "s4",
        status: "ISSUED",
        history: [{ event: "sendInvoice" }],
      });
      run.store.purchases.push({
        sessionId: "s4",
        machineId: "M2",
        state: "failed",
        amountMinor: 500,
        invoiceReference: null,
        billedMinor: null,
        reconciliation: "invoice-reference-unknown",
        createdAt: t0 + 30_000,
        closedAt: t0 + 34_500,
      });
      return run;
    };
    expect(violated(unnamed())).toEqual([]);
    const unflagged = unnamed();
    unflagged.store.purchases[3]!.reconciliation = null;
    expect(violated(unflagged)).toEqual(["reservation-open"]);
    // Once the bridge knew the reference it had to cancel the invoice: the flag no longer excuses it.
    const named = unnamed();
    named.store.purchases[3]!.invoiceReference = "1000000000004";
    expect(violated(named)).toEqual(["reservation-open"]);
    // The flag is about an invoice, not a vend: it does not explain a product that dropped while it was set.
    const dropped = unnamed();
    dropped.physical.drops.M2!.push({ selection: "A2", at: t0 + 32_000 });
    expect(violated(dropped)).toEqual(["dropped-unbilled"]);
  });

  it("FAILS on a machine left unavailable: flagged in the store, or not selling at the end", () => {
    const flagged = cleanRun();
    flagged.store.unavailable.M1 = "unlock not acknowledged";
    expect(violated(flagged)).toEqual(["machine-unavailable"]);
    const refusing = cleanRun();
    const probe = refusing.sandbox.scans.find((scan) => scan.probe && scan.machineId === "M2")!;
    probe.kind = "error-code";
    probe.errorCode = "DEVICE_UNAVAILABLE";
    expect(violated(refusing)).toEqual(["machine-unavailable"]);
  });

  it("FAILS on a createPurchase answered late, or not answered while the bridge was up", () => {
    const late = cleanRun();
    late.sandbox.scans[0]!.answeredAt = t0 + 7_000;
    expect(violated(late)).toEqual(["create-purchase-late"]);
    const unanswered = cleanRun();
    unanswered.sandbox.scans[3]!.startedAt = t0 + 150_000;
    unanswered.sandbox.scans[3]!.answeredAt = t0 + 160_000;
    expect(violated(unanswered)).toEqual(["create-purchase-late"]);
  });
});
