import { randomBytes } from "node:crypto";
import type { Clock, TimerHandle } from "../../platform/clock.ts";
import type { Logger } from "../../platform/logger.ts";
import type { OutboxItem, Purchase, Store, StoreOps } from "../store/store.ts";
import { backoffDelayMs } from "./backoff.ts";

/**
 * The durable outbox (design §4.6): SEQR calls that must eventually happen (commitReservation, cancelInvoice, the
 * final updateInvoice) are rows written in the same transaction as the state change that needs them. This worker
 * leases due rows, runs them, and retries with exponential backoff until the row's deadline (the reservation's
 * commitReservationTimeout). A lease makes a crashed worker's rows available again.
 */

export type OutboxAttempt =
  | { result: "done"; detail?: Record<string, unknown> }
  | { result: "retry"; error: string; outcomeUnknown: boolean }
  /** Not now and not a failure (e.g. waiting for SEQR's status to settle): retry later without counting an attempt. */
  | { result: "later"; error: string }
  /** `attempts`: how many calls were made in all (set by the worker when it gives the row up). */
  | { result: "give-up"; error: string; attempts?: number };

export interface OutboxHandler {
  /** Runs one attempt of `item` for `purchase`; never throws (an exception counts as an unknown outcome). */
  attempt(item: OutboxItem, purchase: Purchase): Promise<OutboxAttempt>;
  /** Inside the transaction that marks the row done or dead: the purchase's resulting transition. */
  settled(tx: StoreOps, item: OutboxItem, purchase: Purchase, outcome: OutboxAttempt, at: number): Promise<void>;
  /**
   * Its success is recorded without waiting for the fsync: lost in a power cut, the row is pending again and sent
   * again, which repeats nothing harmful (updateInvoice sets the same rows). Failures are always recorded durably.
   */
  successMayBeRedone?: boolean;
  /** Attempts after which the row is given up even before its deadline (updateInvoice must not block the commit). */
  maxAttempts?: number;
  /**
   * At the deadline, before the row is given up: a last look at whether an attempt whose outcome is unknown went
   * through after all (a commit that SEQR executed but whose answer was lost). "done" settles the row as done;
   * undefined gives it up. Never throws.
   */
  atDeadline?(item: OutboxItem, purchase: Purchase): Promise<OutboxAttempt | undefined>;
}

export interface OutboxWorkerOptions {
  store: Store;
  clock: Clock;
  logger: Logger;
  handlers: Record<OutboxItem["kind"], OutboxHandler>;
  /** How often due rows are looked for when nothing kicks the worker. */
  pollIntervalMs?: number;
  /** How long a leased row is ours; longer than any single SEQR call. */
  leaseMs?: number;
  batchSize?: number;
  backoff?: { baseMs: number; maxMs: number };
  /** Called after each settled row (metrics). */
  onSettled?: (item: OutboxItem, outcome: OutboxAttempt) => void;
}

export class OutboxWorker {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #handlers: OutboxWorkerOptions["handlers"];
  readonly #pollIntervalMs: number;
  readonly #leaseMs: number;
  readonly #batchSize: number;
  readonly #backoff: { baseMs: number; maxMs: number };
  readonly #onSettled: OutboxWorkerOptions["onSettled"];
  readonly #owner = `w-${randomBytes(6).toString("hex")}`;
  #timer: TimerHandle | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = true;

  constructor(options: OutboxWorkerOptions) {
    this.#store = options.store;
    this.#clock = options.clock;
    this.#log = options.logger.child({ module: "outbox" });
    this.#handlers = options.handlers;
    this.#pollIntervalMs = options.pollIntervalMs ?? 1_000;
    this.#leaseMs = options.leaseMs ?? 60_000;
    this.#batchSize = options.batchSize ?? 16;
    this.#backoff = options.backoff ?? { baseMs: 1_000, maxMs: 60_000 };
    this.#onSettled = options.onSettled;
  }

  start(): void {
    this.#stopped = false;
    this.kick();
  }

  /** Waits for the batch in flight; rows not yet done stay in the store for the next start. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** Look for due rows now (a transition just enqueued one). */
  kick(): void {
    if (this.#stopped) return;
    if (this.#running !== undefined) {
      this.#again = true;
      return;
    }
    if (this.#timer) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#running = this.#drain().finally(() => {
      this.#running = undefined;
      if (this.#stopped) return;
      if (this.#again) {
        this.#again = false;
        this.kick();
        return;
      }
      this.#timer = this.#clock.setTimeout(() => {
        this.#timer = undefined;
        this.kick();
      }, this.#pollIntervalMs);
      this.#timer.unref?.();
    });
  }

  /** Runs due rows until none is left; resolves when the outbox is idle (tests and benchmarks await it). */
  async runDue(): Promise<number> {
    let total = 0;
    for (;;) {
      const count = await this.#runBatch();
      total += count;
      if (count === 0) return total;
    }
  }

  async #drain(): Promise<void> {
    try {
      while (!this.#stopped && (await this.#runBatch()) > 0) {
        // keep going while there is due work
      }
    } catch (error) {
      this.#log.error({ err: error }, "outbox pass failed");
    }
  }

  async #runBatch(): Promise<number> {
    const now = this.#clock.now();
    const items = await this.#store.leaseDueOutbox(this.#owner, now, this.#leaseMs, this.#batchSize);
    // Rows of one session run in order (updateInvoice before commit); different sessions in parallel.
    const bySession = new Map<string, OutboxItem[]>();
    for (const item of items) bySession.set(item.sessionId, [...(bySession.get(item.sessionId) ?? []), item]);
    await Promise.all(
      [...bySession.values()].map(async (rows) => {
        for (const row of rows) await this.#run(row);
      }),
    );
    return items.length;
  }

  async #run(item: OutboxItem): Promise<void> {
    const handler = this.#handlers[item.kind];
    const log = this.#log.child({ sessionId: item.sessionId, kind: item.kind, attempt: item.attempts + 1 });
    const purchase = await this.#store.getPurchase(item.sessionId);
    if (!purchase) {
      await this.#store.abandonOutbox(item, this.#owner, "purchase not found", this.#clock.now());
      return;
    }
    let outcome: OutboxAttempt;
    let attempted = false;
    if (this.#clock.now() >= item.deadlineAt) {
      const late = item.outcomeUnknown ? await handler.atDeadline?.(item, purchase).catch(() => undefined) : undefined;
      outcome =
        late?.result === "done"
          ? late
          : {
              result: "give-up",
              error: `deadline passed after ${item.attempts} attempts: ${item.lastError ?? ""}`,
            };
    } else {
      attempted = true;
      try {
        outcome = await handler.attempt(item, purchase);
      } catch (error) {
        outcome = {
          result: "retry",
          error: error instanceof Error ? error.message : String(error),
          outcomeUnknown: true,
        };
      }
    }
    const now = this.#clock.now();
    if (outcome.result === "retry" && handler.maxAttempts !== undefined && item.attempts + 1 >= handler.maxAttempts) {
      outcome = { result: "give-up", error: `${item.attempts + 1} attempts failed, last: ${outcome.error}` };
    }
    if (outcome.result === "retry" || outcome.result === "later") {
      const counted = outcome.result === "retry";
      const delay = counted ? backoffDelayMs(item.attempts, this.#backoff) : this.#backoff.baseMs;
      // The last attempt is placed just before the deadline rather than after it.
      const nextAttemptAt = Math.min(now + delay, Math.max(now, item.deadlineAt - 1));
      log.warn({ error: outcome.error, retryInMs: nextAttemptAt - now }, "SEQR call to be retried");
      await this.#store.retryOutbox(item, this.#owner, {
        at: now,
        nextAttemptAt,
        error: outcome.error,
        outcomeUnknown: outcome.result === "retry" ? outcome.outcomeUnknown : item.outcomeUnknown,
        countAttempt: counted,
      });
      return;
    }
    // The record of a given-up row says how many calls were made: this run's, if one was made, and the earlier ones.
    const settledOutcome: OutboxAttempt =
      outcome.result === "give-up" ? { ...outcome, attempts: item.attempts + (attempted ? 1 : 0) } : outcome;
    await this.#store.transaction(
      async (tx) => {
        // The purchase's row before the outbox row, the order every orchestrator transaction takes them in.
        const current = (await tx.lockPurchase(item.sessionId)) ?? purchase;
        if (settledOutcome.result === "done") {
          // A re-armed updateInvoice (a vend arrived meanwhile) stays pending and is sent again with the newer rows.
          if (!(await tx.completeOutbox(item, this.#owner, now))) return;
        } else {
          await tx.abandonOutbox(item, this.#owner, settledOutcome.error, now);
        }
        await handler.settled(tx, item, current, settledOutcome, now);
      },
      { durable: !(settledOutcome.result === "done" && handler.successMayBeRedone) },
    );
    if (settledOutcome.result === "done") log.info("SEQR call done");
    else log.error({ error: settledOutcome.error }, "SEQR call given up: flagged for reconciliation");
    this.#onSettled?.(item, settledOutcome);
  }
}
