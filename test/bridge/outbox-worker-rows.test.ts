import { expect, it } from "vitest";
import type { OutboxAttempt } from "../../backend-bridge/outbox/outbox-worker.ts";
import type { OutboxItem } from "../../backend-bridge/store/store.ts";
import { capturedLogs } from "../helpers/captured-logs.ts";
import { describeEachStore, type Harness } from "./helpers/harness.ts";
import { outboxWorker, recordingHandler } from "./helpers/outbox-workers.ts";

/**
 * What the outbox worker records for one commitReservation row (design §4.6), with a manual clock: a call that throws
 * may have reached SEQR (unknown outcome, so the next attempt checks the status before committing again); the last
 * attempt is placed just before the deadline, not after it; a row given up at its deadline says how many calls were
 * made and the last error; a worker that comes back after its lease cannot settle a row another worker now holds; and
 * the operator's log names the session, the call and the attempt.
 */

/** A purchase whose commitReservation row is pending and which the bridge's own worker will not touch. */
async function pendingCommit(h: Harness): Promise<string> {
  const { sessionId } = await h.reservedPurchase();
  await h.app.outbox.stop();
  await h.vendAndEnd(sessionId, [150]);
  return sessionId;
}

async function commitRow(h: Harness, sessionId: string): Promise<OutboxItem> {
  const row = (await h.store.listOutbox(sessionId)).find((item) => item.kind === "commitReservation");
  if (!row) throw new Error("no commitReservation row");
  return row;
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describeEachStore("outbox worker rows", (start) => {
  it("a call that throws counts as an unknown outcome: the next attempt is told so", async () => {
    const h = await start();
    const sessionId = await pendingCommit(h);
    const throwing = recordingHandler(async () => {
      throw new Error("socket hang up");
    });
    expect(await outboxWorker(h, throwing.handler).runDue()).toBe(2);
    const row = await commitRow(h, sessionId);
    expect(row).toMatchObject({ status: "pending", attempts: 1, outcomeUnknown: true, lastError: "socket hang up" });
    await h.clock.advance(row.nextAttemptAt - h.clock.now());
    const next = recordingHandler(async () => ({ result: "done" }));
    expect(await outboxWorker(h, next.handler).runDue()).toBe(1);
    expect(next.calls[0]?.outcomeUnknown).toBe(true);
  });

  it("the last attempt is placed just before the deadline, and is made", async () => {
    const h = await start();
    const sessionId = await pendingCommit(h);
    const { deadlineAt } = await commitRow(h, sessionId);
    // A backoff far longer than the time left: the retry would otherwise land after the deadline.
    const longWait = { baseMs: 10 * (deadlineAt - h.clock.now()), maxMs: 10 * (deadlineAt - h.clock.now()) };
    const failing = recordingHandler(async () => ({ result: "retry", error: "SEQR down", outcomeUnknown: false }));
    expect(await outboxWorker(h, failing.handler, { backoff: longWait }).runDue()).toBe(2);
    const row = await commitRow(h, sessionId);
    expect(row.nextAttemptAt).toBe(deadlineAt - 1);
    await h.clock.advance(row.nextAttemptAt - h.clock.now());
    const last = recordingHandler(async () => ({ result: "done" }));
    expect(await outboxWorker(h, last.handler).runDue()).toBe(1);
    expect(last.calls).toHaveLength(1);
    expect((await commitRow(h, sessionId)).status).toBe("done");
  });

  it("a row given up at its deadline counts only the calls made, and names the last error", async () => {
    const h = await start();
    const sessionId = await pendingCommit(h);
    const failing = recordingHandler(async () => ({ result: "retry", error: "SEQR down", outcomeUnknown: false }));
    expect(await outboxWorker(h, failing.handler).runDue()).toBe(2);
    const { deadlineAt } = await commitRow(h, sessionId);
    await h.clock.advance(deadlineAt - h.clock.now());
    const late = recordingHandler(async () => ({ result: "done" }));
    expect(await outboxWorker(h, late.handler).runDue()).toBe(1);
    // No call at or after the deadline.
    expect(late.calls).toHaveLength(0);
    const giveUp = { result: "give-up", error: "deadline passed after 1 attempts: SEQR down", attempts: 1 };
    expect(late.settled.map((entry) => entry.outcome)).toEqual([giveUp]);
    expect(await commitRow(h, sessionId)).toMatchObject({ status: "dead", lastError: giveUp.error });
  });

  it("a row whose deadline passed before any call is given up with zero calls", async () => {
    const h = await start();
    const sessionId = await pendingCommit(h);
    const { deadlineAt } = await commitRow(h, sessionId);
    await h.clock.advance(deadlineAt - h.clock.now());
    const late = recordingHandler(async () => ({ result: "done" }));
    await outboxWorker(h, late.handler).runDue();
    expect(late.calls).toHaveLength(0);
    expect(late.settled.map((entry) => entry.outcome)).toEqual([
      { result: "give-up", error: "deadline passed after 0 attempts: ", attempts: 0 },
    ]);
  });

  it("a worker back after its lease expired cannot settle the row another worker now holds", async () => {
    const h = await start();
    const sessionId = await pendingCommit(h);
    const hang = () => {
      let wake!: (outcome: OutboxAttempt) => void;
      const handler = recordingHandler(
        () =>
          new Promise<OutboxAttempt>((resolve) => {
            wake = resolve;
          }),
      );
      return { ...handler, wake: (outcome: OutboxAttempt) => wake(outcome) };
    };
    const first = hang();
    const firstPass = outboxWorker(h, first.handler).runDue();
    await until(() => first.calls.length === 1, "the first worker's call");
    await h.clock.advance(60_001);
    const second = hang();
    const secondPass = outboxWorker(h, second.handler).runDue();
    await until(() => second.calls.length === 1, "the second worker's call");
    // The first worker's answer arrives while the second worker's call is still running.
    first.wake({ result: "done" });
    await firstPass;
    expect(first.settled).toHaveLength(0);
    expect((await commitRow(h, sessionId)).status).toBe("pending");
    second.wake({ result: "done" });
    await secondPass;
    expect(second.settled).toHaveLength(1);
    expect((await commitRow(h, sessionId)).status).toBe("done");
  });

  it("the operator's log names the session, the call and the attempt: retried (and when), done, given up", async () => {
    const h = await start();
    const sessionId = await pendingCommit(h);
    const logs = capturedLogs();
    const failing = recordingHandler(async () => ({ result: "retry", error: "SEQR down", outcomeUnknown: false }));
    await outboxWorker(h, failing.handler, { logger: logs.logger }).runDue();
    const row = await commitRow(h, sessionId);
    const retried = logs.lines.filter((line) => line.msg === "SEQR call to be retried");
    expect(retried).toEqual([
      expect.objectContaining({
        level: "warn",
        module: "outbox",
        sessionId,
        kind: "commitReservation",
        attempt: 1,
        error: "SEQR down",
        retryInMs: row.nextAttemptAt - h.clock.now(),
      }),
    ]);
    const done = logs.lines.filter((line) => line.msg === "SEQR call done");
    expect(done).toEqual([
      expect.objectContaining({ level: "info", module: "outbox", sessionId, kind: "updateInvoice", attempt: 1 }),
    ]);

    await h.clock.advance(row.deadlineAt - h.clock.now());
    await outboxWorker(h, failing.handler, { logger: logs.logger }).runDue();
    const givenUp = logs.lines.filter((line) => line.msg === "SEQR call given up: flagged for reconciliation");
    expect(givenUp).toEqual([
      expect.objectContaining({
        level: "error",
        module: "outbox",
        sessionId,
        kind: "commitReservation",
        attempt: 2,
        error: "deadline passed after 1 attempts: SEQR down",
      }),
    ]);
  });
});
