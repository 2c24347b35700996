import { expect, it } from "vitest";
import type { Store } from "../../backend-bridge/store/store.ts";
import { capturedLogs } from "../helpers/captured-logs.ts";
import { eventually } from "../helpers/eventually.ts";
import {
  describeEachStore,
  type Harness,
  type StartHarness,
  sessionEndedEvent,
  vendedEvent,
} from "./helpers/harness.ts";
import { failTransitionsTo } from "./helpers/orchestrator-faults.ts";

/**
 * A purchase's claim and invoice, and the timers that end a claim or a session, at the points the orchestrator's
 * first mutation run (docs/mutation-report.md, 2026-12-03) found untested: what the audit trail records when a claim
 * is released or an invoice sent, a late invoice cancelled at once and for as long as SEQR may hold it, the
 * notification URL SEQR is given, the retries of a notification's status check, a stale claim's release (its audit,
 * its flag, its retry, a bridge stopping meanwhile, another instance releasing it first), and the machine told to
 * end a session the commit deadline closes.
 */

type Line = Record<string, unknown>;

const body = { token: "M1", amount: 20, currency: "EUR", msisdn: "46701234567" };

async function loggedHarness(start: StartHarness, overrides: Record<string, unknown> = {}) {
  const { logger, lines } = capturedLogs("info");
  const h = await start(overrides, { logger });
  const orchestratorLines = () => lines.filter((line) => line.module === "purchase");
  const logged = (msg: string): Line[] => orchestratorLines().filter((line) => line.msg === msg);
  const errors = (): Line[] =>
    orchestratorLines()
      .filter((line) => line.level === "error")
      .map(({ msg, err }) => ({ msg, err }));
  return { h, logged, errors };
}

async function onlyPurchase(h: Harness) {
  const purchases = await h.store.listPurchases({ machineId: "M1" });
  expect(purchases).toHaveLength(1);
  return purchases[0]!;
}

async function auditOf(h: Harness, sessionId: string, reason: string) {
  return (await h.store.listAudit(sessionId)).filter((entry) => entry.reason === reason);
}

async function closedAsFailed(h: Harness): Promise<number> {
  const { values } = await h.app.metrics.sessions.get();
  return values.find((value) => value.labels.outcome === "failed")?.value ?? 0;
}

/** The store's next `transaction` rejects (a failing disk or database), then it works again. */
function failNextTransaction(store: Store): void {
  const { transaction } = store;
  store.transaction = () => {
    store.transaction = transaction;
    return Promise.reject(new Error("disk I/O error"));
  };
}

/** What another bridge instance's stale-claim timer (or sweep) writes: the claim failed and flagged for a person. */
async function releasedByAnotherInstance(store: Store, sessionId: string, at: number): Promise<void> {
  await store.transaction(async (tx) => {
    await tx.transition(sessionId, ["claimed"], "failed", { closedAt: at }, { reason: "stale-claim", at });
    await tx.flagReconciliation(sessionId, "invoice-reference-unknown", at, { clientInvoiceId: sessionId });
  });
}

/**
 * createPurchase whose sendInvoice SEQR does not answer within the createPurchase deadline: INVOICING_ERROR.
 * `beforeTimeout` runs once the claim is stored and sendInvoice called; `release` lets SEQR's answer come.
 */
async function sendInvoiceTimedOut(h: Harness, beforeTimeout: (sessionId: string) => void = () => undefined) {
  const release = h.seqr.hold("sendInvoice");
  const pending = h.createPurchase(body);
  await eventually(() => expect(h.seqr.count("sendInvoice")).toBe(1));
  const { sessionId } = await onlyPurchase(h);
  beforeTimeout(sessionId);
  await h.clock.advance(h.config.timeouts.createPurchaseMs);
  expect((await pending).json).toEqual({ errorCode: "INVOICING_ERROR" });
  return { release, sessionId };
}

/** createPurchase whose invoice cannot be stored nor its claim released: it stays claimed for the stale-claim timer. */
async function claimLeftToTheTimer(h: Harness) {
  const restore = failTransitionsTo(h.testStore.store, ["invoiced", "failed"]);
  expect((await h.createPurchase(body)).json).toEqual({ errorCode: "INVOICING_ERROR" });
  restore();
  const claimed = await onlyPurchase(h);
  expect(claimed.state).toBe("claimed");
  return claimed;
}

/** The stale-claim timer's first run (or, with `retries`, its retry) finds the store failing as the bridge stops. */
async function staleClaimFailingAsTheBridgeStops(h: Harness, retries: number) {
  const claimed = await claimLeftToTheTimer(h);
  const store = h.testStore.store;
  // seqrCallTimeoutMs (5 s) * 2 + 5 s after the claim; each retry 5 s later.
  await h.clock.advance(14_999);
  for (let retry = 0; retry < retries; retry++) {
    failNextTransaction(store);
    await h.clock.advance(1);
    await h.clock.advance(4_999);
  }
  const { getPurchase } = store;
  store.getPurchase = () => {
    store.getPurchase = getPurchase;
    // The bridge is told to stop, and its database goes away under the release.
    void h.app.orchestrator.stop();
    return Promise.reject(new Error("database is closed"));
  };
  await h.clock.advance(1);
  await h.quiesce();
  return claimed;
}

describeEachStore("orchestrator: claims, invoices and their timers", (start) => {
  it("the audit trail names the invoice a sale was sent, and the invoice whose reference could not be stored", async () => {
    const h = await start();
    const restore = failTransitionsTo(h.testStore.store, ["invoiced"]);
    expect((await h.createPurchase(body)).json).toEqual({ errorCode: "INVOICING_ERROR" });
    restore();
    const unrecorded = await onlyPurchase(h);
    expect(await auditOf(h, unrecorded.sessionId, "invoice-not-recorded")).toEqual([
      expect.objectContaining({
        fromState: "claimed",
        toState: "failed",
        detail: { invoiceReference: h.seqr.only().reference, error: "disk I/O error" },
      }),
    ]);

    const reference = await h.purchase();
    const sent = await h.purchaseFor(reference);
    expect(await auditOf(h, sent.sessionId, "invoice-sent")).toEqual([
      expect.objectContaining({ fromState: "claimed", toState: "invoiced", detail: { invoiceReference: reference } }),
    ]);
  });

  it("a late invoice: the release says why, and its cancel goes at once and is tried while SEQR may hold it", async () => {
    const h = await start();
    const { release, sessionId } = await sendInvoiceTimedOut(h);
    const timeout = `sendInvoice: no answer within ${h.config.timeouts.createPurchaseMs} ms`;
    expect(await auditOf(h, sessionId, "invoicing-error")).toEqual([
      expect.objectContaining({ fromState: "claimed", toState: "failed", detail: { error: timeout } }),
    ]);
    expect(await auditOf(h, sessionId, "reconcile:invoice-reference-unknown")).toEqual([
      expect.objectContaining({ detail: { clientInvoiceId: sessionId, error: timeout } }),
    ]);

    // SEQR answers now. Time stands still: nothing but the bridge's own kick sends the cancel.
    const answeredAt = h.clock.now();
    release();
    await eventually(() => expect(h.seqr.only().status).toBe("CANCELED"));
    const reference = h.seqr.only().reference;
    expect(await auditOf(h, sessionId, "late-invoice")).toEqual([
      expect.objectContaining({ fromState: "failed", toState: "failed", detail: { invoiceReference: reference } }),
    ]);
    // For as long as SEQR's commitReservationTimeout (600 s in the harness) from the answer.
    expect((await h.store.getOutbox(sessionId, "cancelInvoice"))?.deadlineAt).toBe(answeredAt + 600_000);
  });

  it("a bridge stopped before SEQR's late answer writes nothing for it: the flag stays for a person", async () => {
    const h = await start();
    const { release } = await sendInvoiceTimedOut(h);
    // Stopped, its store still open (the caller owns it and may close it at any moment).
    await h.app.stop();
    release();
    await eventually(() => expect(h.seqr.invoices.size).toBe(1));
    await h.quiesce();
    const after = await onlyPurchase(h);
    expect(after).toMatchObject({
      state: "failed",
      invoiceReference: null,
      reconciliation: "invoice-reference-unknown",
    });
    expect(await h.store.listOutbox(after.sessionId)).toEqual([]);
    expect(h.seqr.only().status).toBe("ISSUED");
  });

  it("SEQR is given the notification URL under the public base URL, however many slashes end it", async () => {
    const h = await start({ http: { publicBaseUrl: "https://bridge.example/seqr//" } });
    const reference = await h.purchase();
    const { notifySecret } = await h.purchaseFor(reference);
    expect(h.seqr.only().invoice.notificationUrl).toBe(`https://bridge.example/seqr/notify/${notifySecret}`);
  });

  it("a notification's status check retries a failing SEQR with growing pauses, and not at the end of its 15 s window", async () => {
    // SEQR's calls time out after 1.25 s; the poll runs every 3 s (it joins the running check).
    const h = await start({ seqr: { requestTimeoutMs: 1_250 } });
    const reference = await h.purchase();
    h.seqr.hang("getPaymentStatus");
    h.seqr.fail("getPaymentStatus", "transport", { times: 20 });
    const notifiedAt = h.clock.now();
    await h.notify(reference);
    await h.clock.advance(15_000);
    const calls = h.seqr.calls.filter((call) => call.operation === "getPaymentStatus");
    // The first call times out at 1.25 s; then pauses of 0.25, 0.5, 1 and 2 s; the last pause would end at 15 s.
    expect(calls.map((call) => (call.at ?? 0) - notifiedAt)).toEqual([
      0, 1_500, 2_000, 3_000, 5_000, 7_000, 9_000, 11_000, 13_000,
    ]);
  });

  it("a status check retrying after a failed call stops without calling SEQR once the purchase is closed", async () => {
    const h = await start();
    await h.quiesce();
    const idleTimers = h.clock.pending;
    const reference = await h.purchase();
    const { sessionId } = await h.purchaseFor(reference);
    h.seqr.fail("getPaymentStatus", "transport");
    await h.notify(reference);
    expect(h.seqr.count("getPaymentStatus")).toBe(1);
    // The customer walks away before the retry (250 ms later): the machine ends the session, the invoice is cancelled.
    await h.fleet.emit("M1", "session-ended", sessionEndedEvent(sessionId, 0, 0));
    await h.waitForState(reference, "cancelled");
    await h.clock.advance(250);
    expect(h.seqr.count("getPaymentStatus")).toBe(1);
    await h.quiesce();
    expect(h.clock.pending).toBe(idleTimers);
  });

  it("a stale claim is failed with its reason, and flagged with the client invoice id SEQR's report shows", async () => {
    const h = await start();
    const { sessionId } = await claimLeftToTheTimer(h);
    await h.clock.advance(15_000);
    expect(await auditOf(h, sessionId, "stale-claim")).toEqual([
      expect.objectContaining({ fromState: "claimed", toState: "failed" }),
    ]);
    expect(await auditOf(h, sessionId, "reconcile:invoice-reference-unknown")).toEqual([
      expect.objectContaining({ detail: { clientInvoiceId: sessionId } }),
    ]);
    expect(await closedAsFailed(h)).toBe(1);
  });

  it("a late invoice arriving while a stale claim is being retried fails the claim, cancels it and drops the retry", async () => {
    const h = await start();
    const store = h.testStore.store;
    // The claim cannot be released when sendInvoice times out, nor when the stale-claim timer first fires.
    const { release, sessionId } = await sendInvoiceTimedOut(h, () => failNextTransaction(store));
    await h.clock.advance(15_000 - h.config.timeouts.createPurchaseMs - 1);
    failNextTransaction(store);
    await h.clock.advance(1);
    expect(h.app.orchestrator.timersPending).toBe(1);
    release();
    await eventually(() => expect(h.seqr.only().status).toBe("CANCELED"));
    const failed = await onlyPurchase(h);
    expect(failed).toMatchObject({ state: "failed", invoiceReference: h.seqr.only().reference });
    expect(await auditOf(h, sessionId, "late-invoice")).toEqual([
      expect.objectContaining({ fromState: "claimed", toState: "failed" }),
    ]);
    expect(h.app.orchestrator.timersPending).toBe(0);
    expect(await closedAsFailed(h)).toBe(1);
  });

  it("a stale claim whose release fails as the bridge stops is logged as failed, not promised a retry", async () => {
    const { h, logged, errors } = await loggedHarness(start);
    const { sessionId } = await staleClaimFailingAsTheBridgeStops(h, 0);
    expect(errors().at(-1)).toEqual({
      msg: "stale claim failed",
      err: expect.objectContaining({ message: "database is closed" }),
    });
    expect(logged("could not release a stale claim; retrying")).toEqual([]);
    expect((await h.store.getPurchase(sessionId))?.state).toBe("claimed");
  });

  it("a stale claim's retry that fails as the bridge stops is logged as failed", async () => {
    const { h, logged, errors } = await loggedHarness(start);
    await staleClaimFailingAsTheBridgeStops(h, 1);
    expect(logged("could not release a stale claim; retrying")).toHaveLength(1);
    expect(errors().at(-1)).toEqual({
      msg: "stale claim failed",
      err: expect.objectContaining({ message: "database is closed" }),
    });
  });

  it("a claim another instance released first is not flagged nor counted again when sendInvoice times out", async () => {
    const h = await start();
    const store = h.testStore.store;
    const { transaction } = store;
    // This instance was paused; meanwhile another one's sweep released the claim as stale.
    const { sessionId } = await sendInvoiceTimedOut(h, (claimed) => {
      store.transaction = (async (work: Parameters<Store["transaction"]>[0], options) => {
        store.transaction = transaction;
        await releasedByAnotherInstance(store, claimed, h.clock.now());
        return transaction.call(store, work, options);
      }) as Store["transaction"];
    });
    expect(await auditOf(h, sessionId, "reconcile:invoice-reference-unknown")).toHaveLength(1);
    expect(await auditOf(h, sessionId, "invoicing-error")).toEqual([]);
    expect(await closedAsFailed(h)).toBe(0);
  });

  it("a claim another instance released just as the stale-claim timer read it is not flagged nor counted again", async () => {
    const h = await start();
    const store = h.testStore.store;
    const { sessionId } = await claimLeftToTheTimer(h);
    await h.clock.advance(14_999);
    const { getPurchase } = store;
    store.getPurchase = async (id) => {
      store.getPurchase = getPurchase;
      const read = await getPurchase.call(store, id);
      await releasedByAnotherInstance(store, sessionId, h.clock.now());
      return read;
    };
    await h.clock.advance(1);
    expect((await h.store.getPurchase(sessionId))?.state).toBe("failed");
    expect(await auditOf(h, sessionId, "reconcile:invoice-reference-unknown")).toHaveLength(1);
    expect(await closedAsFailed(h)).toBe(0);
  });

  it("a session still open at the commit deadline is billed what is stored and the machine told to end it", async () => {
    // A 60 s reservation: forced closed at 48 s (a margin of a fifth), long before the session's own maximum.
    const h = await start({ seqr: { commitReservationTimeoutSeconds: 60 } });
    const { reference, sessionId } = await h.reservedPurchase();
    await h.fleet.emit("M1", "unlocked", { sessionId, commandId: "x", budgetMinor: 2000, currency: "EUR" });
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v1"));
    const { invoicedAt } = await h.purchaseFor(reference);
    await h.clock.advance(invoicedAt! + 48_000 - h.clock.now() - 1);
    expect(h.fleet.commands("cancel")).toEqual([]);
    await h.clock.advance(1);
    expect(h.fleet.commands("cancel").map((command) => command.body)).toEqual([{ sessionId, reason: "system" }]);
    await h.drainOutbox();
    expect((await h.waitForState(reference, "committed")).billedMinor).toBe(150);
  });
});
