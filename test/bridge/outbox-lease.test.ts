import { expect, it } from "vitest";
import { type OutboxAttempt, type OutboxHandler, OutboxWorker } from "../../backend-bridge/outbox/outbox-worker.ts";
import type { OutboxItem } from "../../backend-bridge/store/store.ts";
import { silentLogger } from "../../platform/logger.ts";
import { describeEachStore, type Harness } from "./helpers/harness.ts";
import { outboxWorker, recordingHandler, testLeaseMs, updateDone } from "./helpers/outbox-workers.ts";

/**
 * The outbox lease (design §4.6) with a manual clock: a worker that dies or hangs inside a SEQR call keeps its row for
 * exactly `leaseMs`; then another worker takes it, treats the first call's outcome as unknown (it may have reached
 * SEQR), and the first worker, if it ever comes back, can no longer settle the row. Attempts are counted once each.
 */

const leaseMs = testLeaseMs;

/** A purchase whose commitReservation row is pending and which the bridge's own worker will not touch. */
async function pendingCommit(h: Harness): Promise<string> {
  const { sessionId } = await h.reservedPurchase();
  await h.app.outbox.stop();
  await h.vendAndEnd(sessionId, [150]);
  const rows = (await h.store.listOutbox(sessionId)).filter((row) => row.status === "pending");
  expect(rows.map((row) => [row.kind, row.attempts])).toEqual([
    ["updateInvoice", 0],
    ["commitReservation", 0],
  ]);
  return sessionId;
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describeEachStore("outbox lease", (start) => {
  it("a hung worker's row is taken over at leaseMs, not before, with its outcome unknown; the hung one cannot settle it", async () => {
    const h = await start();
    const sessionId = await pendingCommit(h);
    let wakeHung!: (outcome: OutboxAttempt) => void;
    const hung = recordingHandler(
      () =>
        new Promise<OutboxAttempt>((resolve) => {
          wakeHung = resolve;
        }),
    );
    const first = outboxWorker(h, hung.handler);
    const firstPass = first.runDue();
    await until(() => hung.calls.length === 1, "the first worker's call");
    expect(hung.calls[0]?.outcomeUnknown).toBe(false);

    const taker = recordingHandler(async () => ({ result: "done" }));
    const second = outboxWorker(h, taker.handler);
    await h.clock.advance(leaseMs - 1);
    expect(await second.runDue()).toBe(0);
    expect(taker.calls).toHaveLength(0);
    await h.clock.advance(2);
    expect(await second.runDue()).toBe(1);
    expect(taker.calls).toHaveLength(1);
    // The first call may have reached SEQR: a commit must check the status before calling again.
    expect(taker.calls[0]?.outcomeUnknown).toBe(true);
    expect(taker.settled).toHaveLength(1);

    // The hung worker wakes up with its own answer: the row is no longer its to settle.
    wakeHung({ result: "done" });
    await firstPass;
    expect(hung.settled).toHaveLength(0);
    const [row] = (await h.store.listOutbox(sessionId)).filter((item) => item.kind === "commitReservation");
    expect(row).toMatchObject({ status: "done" });
  });

  it("each failed attempt is counted once, a 'later' is not counted, and nothing runs before it is due", async () => {
    const h = await start();
    const sessionId = await pendingCommit(h);
    const failing = recordingHandler(async () => ({ result: "retry", error: "SEQR down", outcomeUnknown: false }));
    const one = outboxWorker(h, failing.handler);
    // The final updateInvoice, then the commit.
    expect(await one.runDue()).toBe(2);
    const commitRow = async () =>
      (await h.store.listOutbox(sessionId)).find((item) => item.kind === "commitReservation") as OutboxItem;
    const afterFirst = await commitRow();
    expect(afterFirst).toMatchObject({ attempts: 1, outcomeUnknown: false, lastError: "SEQR down" });
    // Not due yet: a second worker finds nothing, and no attempt is counted.
    const other = outboxWorker(h, failing.handler);
    expect(await other.runDue()).toBe(0);
    expect((await commitRow()).attempts).toBe(1);
    await h.clock.advance(afterFirst.nextAttemptAt - h.clock.now());
    expect(await other.runDue()).toBe(1);
    expect(failing.calls).toHaveLength(2);
    expect((await commitRow()).attempts).toBe(2);

    // A "later" (waiting for SEQR's status to settle) is retried without counting an attempt.
    const waiting = recordingHandler(async () => ({ result: "later", error: "status not settled" }));
    const patient = outboxWorker(h, waiting.handler);
    await h.clock.advance((await commitRow()).nextAttemptAt - h.clock.now());
    expect(await patient.runDue()).toBe(1);
    expect((await commitRow()).attempts).toBe(2);
  });

  it("with the defaults: a row is leased for 60 s, a 'later' waits 1 s and a failed attempt 0.5 to 1 s", async () => {
    const h = await start();
    const sessionId = await pendingCommit(h);
    const commitRow = async () =>
      (await h.store.listOutbox(sessionId)).find((item) => item.kind === "commitReservation") as OutboxItem;
    const defaults = (commit: OutboxHandler) =>
      new OutboxWorker({
        store: h.store,
        clock: h.clock,
        logger: silentLogger(),
        handlers: {
          commitReservation: commit,
          cancelInvoice: commit,
          updateInvoice: updateDone,
          submitPaymentReceipt: commit,
        },
      });
    const waiting = recordingHandler(async () => ({ result: "later", error: "status not settled" }));
    expect(await defaults(waiting.handler).runDue()).toBe(2);
    expect((await commitRow()).nextAttemptAt - h.clock.now()).toBe(1_000);

    await h.clock.advance(1_000);
    const failing = recordingHandler(async () => ({ result: "retry", error: "SEQR down", outcomeUnknown: false }));
    expect(await defaults(failing.handler).runDue()).toBe(1);
    const wait = (await commitRow()).nextAttemptAt - h.clock.now();
    expect(wait).toBeGreaterThanOrEqual(500);
    expect(wait).toBeLessThanOrEqual(1_000);

    await h.clock.advance(wait);
    const hung = recordingHandler(() => new Promise<OutboxAttempt>(() => undefined));
    void defaults(hung.handler).runDue();
    await until(() => hung.calls.length === 1, "the hung call");
    const taker = recordingHandler(async () => ({ result: "done" }));
    await h.clock.advance(60_000 - 1);
    expect(await defaults(taker.handler).runDue()).toBe(0);
    await h.clock.advance(2);
    expect(await defaults(taker.handler).runDue()).toBe(1);
  });

  it("once started, looks for due rows every second (1 s by default) until stopped", async () => {
    const h = await start();
    await pendingCommit(h);
    const waiting = recordingHandler(async () => ({ result: "later", error: "status not settled" }));
    const polling = new OutboxWorker({
      store: h.store,
      clock: h.clock,
      logger: silentLogger(),
      handlers: {
        commitReservation: waiting.handler,
        cancelInvoice: waiting.handler,
        updateInvoice: updateDone,
        submitPaymentReceipt: waiting.handler,
      },
    });
    polling.start();
    await until(() => waiting.calls.length === 1, "the first pass");
    await h.clock.advance(999);
    expect(waiting.calls).toHaveLength(1);
    await h.clock.advance(1);
    await until(() => waiting.calls.length === 2, "the second pass, one poll interval later");
    await polling.stop();
    await h.clock.advance(5_000);
    expect(waiting.calls).toHaveLength(2);
  });

  it("gives a row up after the handler's maxAttempts, counting every call, and reports each settled row", async () => {
    const h = await start();
    const sessionId = await pendingCommit(h);
    const failing = recordingHandler(async () => ({ result: "retry", error: "SEQR down", outcomeUnknown: true }));
    const reported: Array<[string, OutboxAttempt]> = [];
    const limited = new OutboxWorker({
      store: h.store,
      clock: h.clock,
      logger: silentLogger(),
      handlers: {
        commitReservation: { ...failing.handler, maxAttempts: 2 },
        cancelInvoice: failing.handler,
        updateInvoice: updateDone,
        submitPaymentReceipt: failing.handler,
      },
      backoff: { baseMs: 1_000, maxMs: 1_000 },
      onSettled: (item, outcome) => reported.push([item.kind, outcome]),
    });
    expect(await limited.runDue()).toBe(2);
    expect(failing.settled).toHaveLength(0);
    await h.clock.advance(1_000);
    expect(await limited.runDue()).toBe(1);
    expect(failing.calls).toHaveLength(2);
    const giveUp = { result: "give-up", error: "2 attempts failed, last: SEQR down", attempts: 2 };
    expect(failing.settled.map((entry) => entry.outcome)).toEqual([giveUp]);
    expect(reported).toEqual([
      ["updateInvoice", { result: "done" }],
      ["commitReservation", giveUp],
    ]);
    const [row] = (await h.store.listOutbox(sessionId)).filter((item) => item.kind === "commitReservation");
    expect(row).toMatchObject({ status: "dead" });
  });
});
