import { describe, expect, it } from "vitest";
import { outcomeUnknown, seqrCallHandlers } from "../../backend-bridge/outbox/seqr-calls.ts";
import { CallTimeoutError } from "../../backend-bridge/purchase/with-timeout.ts";
import type { PaymentStatus, SeqrApi } from "../../backend-bridge/seqr/seqr-api.ts";
import { SeqrResultError } from "../../backend-bridge/seqr/seqr-errors.ts";
import type { OutboxItem, Purchase, StoreOps } from "../../backend-bridge/store/store.ts";

/**
 * The outbox handlers on their own: a SEQR whose answers each test sets, and a transaction that records what the
 * handlers write. seqr-failures.test.ts and the other bridge tests run the same through the whole bridge.
 */

const purchase = (overrides: Partial<Purchase> = {}): Purchase =>
  ({
    sessionId: "S1",
    machineId: "M1",
    state: "committing",
    amountMinor: 500,
    currency: "EUR",
    invoiceReference: "INV-1",
    statusVersion: 3,
    billedMinor: 300,
    ...overrides,
  }) as Purchase;

const item = (kind: OutboxItem["kind"], overrides: Partial<OutboxItem> = {}): OutboxItem => ({
  id: 7,
  sessionId: "S1",
  kind,
  payload: kind === "commitReservation" ? { amountMinor: 300, currency: "EUR" } : {},
  status: "pending",
  generation: 1,
  attempts: 2,
  nextAttemptAt: 0,
  deadlineAt: 1_000_000,
  lastError: "earlier error",
  outcomeUnknown: false,
  ...overrides,
});

type Answer<T> = T | Error;
const answer = async <T>(value: Answer<T>): Promise<T> => {
  if (value instanceof Error) throw value;
  return value;
};

function rig(options: { transition?: boolean } = {}) {
  const calls: string[] = [];
  const answers: {
    update: Answer<undefined>;
    commit: Answer<{ ersReference?: string }>;
    status: Answer<PaymentStatus>[];
    cancel: Answer<undefined>;
  } = { update: undefined, commit: {}, status: [], cancel: undefined };
  const invoices: Record<string, unknown>[] = [];
  const seqr = {
    updateInvoice: async (reference: string, invoice: Record<string, unknown>) => {
      calls.push(`updateInvoice ${reference}`);
      invoices.push(invoice);
      return answer(answers.update);
    },
    commitReservation: async (reference: string, amount: { minor: number; currency: string }) => {
      calls.push(`commitReservation ${reference} ${amount.minor} ${amount.currency}`);
      return answer(answers.commit);
    },
    getPaymentStatus: async (reference: string, version: number) => {
      calls.push(`getPaymentStatus ${reference} ${version}`);
      return answer(answers.status.shift() ?? new Error("no status answer set"));
    },
    cancelInvoice: async (reference: string) => {
      calls.push(`cancelInvoice ${reference}`);
      return answer(answers.cancel);
    },
  } as unknown as SeqrApi;
  const written: unknown[][] = [];
  const tx = {
    transition: async (...args: unknown[]) => {
      written.push(["transition", ...args]);
      return options.transition ?? true;
    },
    flagReconciliation: async (...args: unknown[]) => {
      written.push(["flagReconciliation", ...args]);
    },
    appendAudit: async (...args: unknown[]) => {
      written.push(["appendAudit", ...args]);
    },
  } as unknown as StoreOps;
  const closed: string[] = [];
  const handlers = seqrCallHandlers({
    seqr,
    store: {
      listVends: async (sessionId: string) => {
        calls.push(`listVends ${sessionId}`);
        return [];
      },
    },
    notificationUrl: () => "https://bridge.example/notify",
    commitReservationTimeoutSeconds: 600,
    onClosed: (outcome) => closed.push(outcome),
  });
  return { handlers, calls, answers, tx, written, closed, invoices };
}

const resultError = (code: number) => new SeqrResultError("commitReservation", code, undefined);
const status = (value: PaymentStatus["status"], ersReference?: string): PaymentStatus => ({
  status: value,
  version: 4,
  ...(ersReference ? { ersReference } : {}),
});

describe("outcomeUnknown", () => {
  it("a SEQR result error is known not to have acted; a timeout or any other error may have", () => {
    expect(outcomeUnknown(resultError(58))).toBe(false);
    expect(outcomeUnknown(new CallTimeoutError("commitReservation", 10_000))).toBe(true);
    expect(outcomeUnknown(new Error("socket hang up"))).toBe(true);
  });
});

describe("updateInvoice row", () => {
  it("without an invoice reference there is nothing to update: given up", async () => {
    const { handlers, calls } = rig();
    const outcome = await handlers.updateInvoice.attempt(item("updateInvoice"), purchase({ invoiceReference: null }));
    expect(outcome).toEqual({ result: "give-up", error: "no invoice reference" });
    expect(calls).toEqual([]);
  });

  it("sends the rows read from the store now, with the notification URL and the commit timeout", async () => {
    const { handlers, calls, invoices } = rig();
    expect(await handlers.updateInvoice.attempt(item("updateInvoice"), purchase())).toEqual({ result: "done" });
    expect(calls).toEqual(["listVends S1", "updateInvoice INV-1"]);
    expect(invoices[0]).toMatchObject({
      notificationUrl: "https://bridge.example/notify",
      commitReservationTimeoutSeconds: 600,
      clientInvoiceId: "S1",
    });
  });

  it("gives up on 11, 49 and 54; retries another refusal with a known outcome and a timeout with an unknown one", async () => {
    const { handlers, answers } = rig();
    for (const code of [11, 49, 54]) {
      answers.update = resultError(code);
      expect(await handlers.updateInvoice.attempt(item("updateInvoice"), purchase()), String(code)).toMatchObject({
        result: "give-up",
      });
    }
    answers.update = resultError(58);
    expect(await handlers.updateInvoice.attempt(item("updateInvoice"), purchase())).toEqual({
      result: "retry",
      error: resultError(58).message,
      outcomeUnknown: false,
    });
    answers.update = new CallTimeoutError("updateInvoice", 10_000);
    expect(await handlers.updateInvoice.attempt(item("updateInvoice"), purchase())).toMatchObject({
      result: "retry",
      outcomeUnknown: true,
    });
  });

  it("settled: a failure is flagged with its error; a success is audited", async () => {
    const { handlers, tx, written } = rig();
    await handlers.updateInvoice.settled(tx, item("updateInvoice"), purchase(), { result: "give-up", error: "e1" }, 5);
    await handlers.updateInvoice.settled(tx, item("updateInvoice"), purchase(), { result: "done" }, 6);
    expect(written).toEqual([
      ["flagReconciliation", "S1", "invoice-rows-not-updated", 5, { error: "e1" }],
      [
        "appendAudit",
        {
          sessionId: "S1",
          machineId: "M1",
          fromState: "committing",
          toState: "committing",
          reason: "invoice-updated",
          detail: { outboxId: 7, attempts: 3 },
          at: 6,
        },
      ],
    ]);
  });
});

describe("commitReservation row", () => {
  it("never commits without an invoice reference, nor an amount that is not a positive integer within the reservation", async () => {
    const { handlers, calls } = rig();
    const commit = (amountMinor: unknown, overrides: Partial<Purchase> = {}) =>
      handlers.commitReservation.attempt(
        item("commitReservation", { payload: { amountMinor, currency: "EUR" } }),
        purchase(overrides),
      );
    expect(await commit(300, { invoiceReference: null })).toEqual({ result: "give-up", error: "no invoice reference" });
    for (const amount of [1.5, Number.NaN, 0, -1, 501]) {
      expect(await commit(amount), String(amount)).toEqual({
        result: "give-up",
        error: `refused to commit ${amount} of a 500 reservation`,
      });
    }
    expect(calls).toEqual([]);
    expect(await commit(500)).toMatchObject({ result: "done" });
  });

  it("commits straight away when the last outcome is known, then reads the status for PAID and the ersReference", async () => {
    const { handlers, calls, answers } = rig();
    answers.commit = { ersReference: "ERS-from-commit" };
    answers.status = [status("PAID", "ERS-from-status")];
    expect(await handlers.commitReservation.attempt(item("commitReservation"), purchase())).toEqual({
      result: "done",
      detail: { paidConfirmed: true, ersReference: "ERS-from-status" },
    });
    expect(calls).toEqual(["commitReservation INV-1 300 EUR", "getPaymentStatus INV-1 3"]);
  });

  it("after the commit: the commit's ersReference when the status has none, and what a failed status read says", async () => {
    const { handlers, answers } = rig();
    answers.commit = { ersReference: "ERS-from-commit" };
    answers.status = [status("RESERVED")];
    expect(await handlers.commitReservation.attempt(item("commitReservation"), purchase())).toEqual({
      result: "done",
      detail: { paidConfirmed: false, ersReference: "ERS-from-commit" },
    });
    answers.commit = {};
    answers.status = [status("PAID")];
    expect(await handlers.commitReservation.attempt(item("commitReservation"), purchase())).toEqual({
      result: "done",
      detail: { paidConfirmed: true },
    });
    answers.commit = { ersReference: "ERS-from-commit" };
    answers.status = [new Error("status down")];
    expect(await handlers.commitReservation.attempt(item("commitReservation"), purchase())).toEqual({
      result: "done",
      detail: { paidConfirmed: false, statusError: "status down", ersReference: "ERS-from-commit" },
    });
    answers.commit = {};
    answers.status = [new Error("status down")];
    expect(await handlers.commitReservation.attempt(item("commitReservation"), purchase())).toEqual({
      result: "done",
      detail: { paidConfirmed: false, statusError: "status down" },
    });
  });

  it("after an unknown outcome, asks the status first: PAID is done without a second commit", async () => {
    const { handlers, calls, answers } = rig();
    answers.status = [status("PAID", "ERS-9")];
    const unknown = item("commitReservation", { outcomeUnknown: true });
    expect(await handlers.commitReservation.attempt(unknown, purchase())).toEqual({
      result: "done",
      detail: { confirmedBy: "getPaymentStatus", ersReference: "ERS-9" },
    });
    expect(calls).toEqual(["getPaymentStatus INV-1 3"]);
    answers.status = [status("PAID")];
    expect(await handlers.commitReservation.attempt(unknown, purchase())).toEqual({
      result: "done",
      detail: { confirmedBy: "getPaymentStatus" },
    });
  });

  it("after an unknown outcome: gone (CANCELED, EXPIRED, FAILED) gives up, unsettled waits, a failed read retries", async () => {
    const { handlers, calls, answers } = rig();
    const unknown = item("commitReservation", { outcomeUnknown: true });
    for (const gone of ["CANCELED", "EXPIRED", "FAILED"] as const) {
      answers.status = [status(gone)];
      expect(await handlers.commitReservation.attempt(unknown, purchase()), gone).toEqual({
        result: "give-up",
        error: `reservation is ${gone}`,
      });
    }
    answers.status = [status("ISSUED")];
    expect(await handlers.commitReservation.attempt(unknown, purchase())).toEqual({
      result: "later",
      error: "status ISSUED",
    });
    answers.status = [new Error("status down")];
    expect(await handlers.commitReservation.attempt(unknown, purchase())).toEqual({
      result: "retry",
      error: "status check before commit: status down",
      outcomeUnknown: true,
    });
    expect(calls.filter((call) => call.startsWith("commitReservation"))).toEqual([]);
    // Still RESERVED: the commit did not go through, so it is made now.
    calls.length = 0;
    answers.status = [status("RESERVED"), status("PAID")];
    expect(await handlers.commitReservation.attempt(unknown, purchase())).toMatchObject({ result: "done" });
    expect(calls).toEqual(["getPaymentStatus INV-1 3", "commitReservation INV-1 300 EUR", "getPaymentStatus INV-1 3"]);
  });

  it("96 (not reserved) asks the status: PAID is done, gone gives up, still reserved retries", async () => {
    const { handlers, answers } = rig();
    answers.commit = resultError(96);
    answers.status = [status("PAID")];
    expect(await handlers.commitReservation.attempt(item("commitReservation"), purchase())).toMatchObject({
      result: "done",
    });
    answers.status = [status("EXPIRED")];
    expect(await handlers.commitReservation.attempt(item("commitReservation"), purchase())).toEqual({
      result: "give-up",
      error: "reservation is EXPIRED",
    });
    answers.status = [status("RESERVED")];
    expect(await handlers.commitReservation.attempt(item("commitReservation"), purchase())).toEqual({
      result: "retry",
      error: resultError(96).message,
      outcomeUnknown: false,
    });
  });

  it("another refusal gives up; a transient one or a timeout retries", async () => {
    const { handlers, answers } = rig();
    answers.commit = resultError(58);
    expect(await handlers.commitReservation.attempt(item("commitReservation"), purchase())).toEqual({
      result: "give-up",
      error: resultError(58).message,
    });
    answers.commit = new CallTimeoutError("commitReservation", 10_000);
    expect(await handlers.commitReservation.attempt(item("commitReservation"), purchase())).toMatchObject({
      result: "retry",
      outcomeUnknown: true,
    });
  });

  it("at the deadline: only a PAID status settles it; without an invoice reference SEQR is not asked", async () => {
    const { handlers, calls, answers } = rig();
    const atDeadline = handlers.commitReservation.atDeadline;
    expect(atDeadline).toBeDefined();
    answers.status = [status("PAID")];
    expect(await atDeadline?.(item("commitReservation"), purchase({ invoiceReference: null }))).toBeUndefined();
    expect(calls).toEqual([]);
    expect(await atDeadline?.(item("commitReservation"), purchase())).toMatchObject({ result: "done" });
    answers.status = [status("CANCELED")];
    expect(await atDeadline?.(item("commitReservation"), purchase())).toBeUndefined();
  });

  it("settled done: the purchase becomes committed with what was committed, and is counted once", async () => {
    const { handlers, tx, written, closed } = rig();
    const outcome = { result: "done" as const, detail: { paidConfirmed: true, ersReference: "ERS-1" } };
    await handlers.commitReservation.settled(tx, item("commitReservation"), purchase(), outcome, 9);
    expect(written).toEqual([
      [
        "transition",
        "S1",
        ["committing"],
        "committed",
        { committedMinor: 300, ersReference: "ERS-1" },
        {
          reason: "reservation-committed",
          detail: { billedMinor: 300, paidConfirmed: true, ersReference: "ERS-1" },
          at: 9,
        },
      ],
    ]);
    expect(closed).toEqual(["committed"]);
    written.length = 0;
    await handlers.commitReservation.settled(tx, item("commitReservation"), purchase(), { result: "done" }, 9);
    expect(written[0]?.slice(4)).toEqual([
      { committedMinor: 300 },
      { reason: "reservation-committed", detail: { billedMinor: 300 }, at: 9 },
    ]);
  });

  it("settled but the purchase had moved on: nothing is counted", async () => {
    const { handlers, tx, closed } = rig({ transition: false });
    await handlers.commitReservation.settled(tx, item("commitReservation"), purchase(), { result: "done" }, 9);
    await handlers.commitReservation.settled(
      tx,
      item("commitReservation"),
      purchase(),
      { result: "give-up", error: "e" },
      9,
    );
    expect(closed).toEqual([]);
  });

  it("settled given up: failed with nothing taken, flagged with the calls made and why", async () => {
    const { handlers, tx, written, closed } = rig();
    const unknown = item("commitReservation", { outcomeUnknown: true });
    await handlers.commitReservation.settled(
      tx,
      unknown,
      purchase(),
      { result: "give-up", error: "e2", attempts: 4 },
      9,
    );
    const record = {
      attempts: 4,
      billedMinor: 300,
      committedMinor: 0,
      error: "e2",
      lastError: "earlier error",
      outcomeUnknown: true,
    };
    expect(written).toEqual([
      [
        "transition",
        "S1",
        ["committing"],
        "failed",
        { committedMinor: 0 },
        { reason: "commit-failed", detail: { ...record, kind: "commitReservation" }, at: 9 },
      ],
      ["flagReconciliation", "S1", "commit-failed", 9, record],
    ]);
    expect(closed).toEqual(["failed"]);
  });
});

describe("cancelInvoice row", () => {
  it("done without an invoice reference; 95 (already cancelled) is done; 50 and 54 give up; others retry", async () => {
    const { handlers, calls, answers } = rig();
    expect(await handlers.cancelInvoice.attempt(item("cancelInvoice"), purchase({ invoiceReference: null }))).toEqual({
      result: "done",
    });
    expect(calls).toEqual([]);
    expect(await handlers.cancelInvoice.attempt(item("cancelInvoice"), purchase())).toEqual({ result: "done" });
    answers.cancel = resultError(95);
    expect(await handlers.cancelInvoice.attempt(item("cancelInvoice"), purchase())).toEqual({
      result: "done",
      detail: { already: true },
    });
    for (const code of [50, 54]) {
      answers.cancel = resultError(code);
      expect(await handlers.cancelInvoice.attempt(item("cancelInvoice"), purchase()), String(code)).toEqual({
        result: "give-up",
        error: resultError(code).message,
      });
    }
    answers.cancel = resultError(58);
    expect(await handlers.cancelInvoice.attempt(item("cancelInvoice"), purchase())).toEqual({
      result: "retry",
      error: resultError(58).message,
      outcomeUnknown: false,
    });
  });

  it("settled: done is audited, a failure flagged with its error", async () => {
    const { handlers, tx, written } = rig();
    await handlers.cancelInvoice.settled(tx, item("cancelInvoice"), purchase(), { result: "done" }, 3);
    await handlers.cancelInvoice.settled(tx, item("cancelInvoice"), purchase(), { result: "give-up", error: "e3" }, 4);
    expect(written).toEqual([
      [
        "appendAudit",
        {
          sessionId: "S1",
          machineId: "M1",
          fromState: "committing",
          toState: "committing",
          reason: "invoice-cancelled",
          detail: { outboxId: 7, attempts: 3 },
          at: 3,
        },
      ],
      ["flagReconciliation", "S1", "cancel-failed", 4, { error: "e3" }],
    ]);
  });
});
