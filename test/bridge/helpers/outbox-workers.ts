import { type OutboxAttempt, type OutboxHandler, OutboxWorker } from "../../../backend-bridge/outbox/outbox-worker.ts";
import type { OutboxItem } from "../../../backend-bridge/store/store.ts";
import { type Logger, silentLogger } from "../../../platform/logger.ts";
import type { Harness } from "./harness.ts";

/** A handler whose calls are recorded; `answer` decides each call's outcome (a never-settling promise = a hang). */
export function recordingHandler(answer: (item: OutboxItem) => Promise<OutboxAttempt>) {
  const calls: OutboxItem[] = [];
  const settled: Array<{ item: OutboxItem; outcome: OutboxAttempt }> = [];
  const handler: OutboxHandler = {
    attempt: (item) => {
      calls.push(item);
      return answer(item);
    },
    settled: async (_tx, item, _purchase, outcome) => {
      settled.push({ item, outcome });
    },
  };
  return { handler, calls, settled };
}

/** The final updateInvoice goes before the commit (the rows' order); it just succeeds here. */
export const updateDone: OutboxHandler = { attempt: async () => ({ result: "done" }), settled: async () => undefined };

export const testLeaseMs = 60_000;

/** A worker over the harness's store and manual clock; `commit` runs the commitReservation (and cancel) rows. */
export function outboxWorker(
  h: Harness,
  commit: OutboxHandler,
  options: { logger?: Logger; backoff?: { baseMs: number; maxMs: number } } = {},
): OutboxWorker {
  return new OutboxWorker({
    store: h.store,
    clock: h.clock,
    logger: options.logger ?? silentLogger(),
    handlers: {
      commitReservation: commit,
      cancelInvoice: commit,
      updateInvoice: updateDone,
      submitPaymentReceipt: commit,
    },
    leaseMs: testLeaseMs,
    backoff: options.backoff ?? { baseMs: 1_000, maxMs: 30_000 },
  });
}
