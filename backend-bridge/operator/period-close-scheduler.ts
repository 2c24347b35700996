import type { Clock, TimerHandle } from "../../platform/clock.ts";
import type { Logger } from "../../platform/logger.ts";
import { closeSeqrPeriod, type PeriodCloseDependencies } from "./period-close.ts";

/**
 * Runs the SEQR period close every `intervalMs` (reconciliation.periodCloseIntervalMs, daily by default) in the
 * running bridge. The next close is due one interval after the last one the store records, so a restart does not
 * close an extra period; an instance that finds a close by another instance less than half an interval ago skips
 * its turn (one period close per interval across several bridges, short of an exact race).
 */
export class PeriodCloseScheduler {
  readonly #deps: PeriodCloseDependencies;
  readonly #clock: Clock;
  readonly #log: Logger;
  #timer: TimerHandle | undefined;
  #running: Promise<void> | undefined;
  #stopped = true;

  constructor(deps: PeriodCloseDependencies & { logger: Logger }) {
    this.#deps = deps;
    this.#clock = deps.clock;
    this.#log = deps.logger.child({ module: "period-close" });
  }

  async start(): Promise<void> {
    this.#stopped = false;
    const last = await this.#deps.store.lastPeriodClose();
    const now = this.#clock.now();
    const due = last ? last.startedAt + this.#interval() : now + this.#interval();
    this.#schedule(Math.max(0, due - now));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  #interval(): number {
    return this.#deps.settings.intervalMs;
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#running = this.#runOnce().finally(() => {
        this.#running = undefined;
        this.#schedule(this.#interval());
      });
    }, delayMs);
    this.#timer.unref?.();
  }

  async #runOnce(): Promise<void> {
    try {
      const last = await this.#deps.store.lastPeriodClose();
      if (last && last.startedAt > this.#clock.now() - this.#interval() / 2) {
        this.#log.info({ transactionPeriodId: last.transactionPeriodId }, "period closed by another instance");
        return;
      }
      const result = await closeSeqrPeriod(this.#deps);
      if (result.status === "failed") this.#log.error({ error: result.error }, "SEQR period close failed");
      else if (result.differences.length > 0) {
        const kinds = result.differences.map((each) => each.kind);
        this.#log.warn(
          { transactionPeriodId: result.transactionPeriodId, kinds },
          "SEQR's report differs from the ledger",
        );
      } else
        this.#log.info({ transactionPeriodId: result.transactionPeriodId }, "SEQR period closed; the ledger agrees");
    } catch (error) {
      this.#log.error({ err: error }, "period close crashed");
    }
  }
}
