import { createHmac, randomUUID } from "node:crypto";
import type { Clock } from "../../platform/clock.ts";
import type { Logger } from "../../platform/logger.ts";
import type { Alarm } from "./alarm-rules.ts";

/** What the webhook receives, one POST per alarm raised or cleared (docs/operator-guide.md, "Alarm webhook"). */
export interface AlarmNotification {
  event: "raised" | "cleared";
  alarm: Alarm;
  /** When the bridge decided it. */
  at: number;
}

export interface WebhookSettings {
  url: string;
  secret?: string | undefined;
  timeoutMs: number;
  attempts: number;
  retryBaseMs: number;
}

/** A receiver that cannot keep up must not make the bridge hold alarms without end: the oldest are dropped. */
const maxQueued = 1_000;
const maxBackoffMs = 60_000;

/** Worth another try: the receiver may be back later. Any other answer (a 400, a redirect) will not change. */
function retryable(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/**
 * Posts alarm notifications to the configured webhook, one at a time and in order (a receiver sees "raised" before
 * "cleared" of the same alarm), with a timeout per POST and retries with doubling waits. `notify` only queues: a slow,
 * failing or absent receiver never delays the caller, and so never a sale or the bridge's health; what cannot be
 * delivered is logged and dropped.
 */
export class AlarmWebhook {
  readonly #settings: WebhookSettings;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #queue: AlarmNotification[] = [];
  #running: Promise<void> | undefined;
  #stopped = false;
  readonly #abort = new AbortController();
  delivered = 0;
  dropped = 0;

  constructor(deps: { settings: WebhookSettings; clock: Clock; logger: Logger }) {
    this.#settings = deps.settings;
    this.#clock = deps.clock;
    this.#log = deps.logger.child({ module: "alarm-webhook" });
  }

  notify(notification: AlarmNotification): void {
    if (this.#stopped) return;
    if (this.#queue.length >= maxQueued) {
      const oldest = this.#queue.shift();
      this.dropped++;
      this.#log.error({ alarmId: oldest?.alarm.id }, "alarm webhook queue full; oldest notification dropped");
    }
    this.#queue.push(notification);
    this.#running ??= this.#drain().finally(() => {
      this.#running = undefined;
    });
  }

  /** Resolves once every queued notification was delivered or given up (tests, and a graceful stop). */
  async idle(): Promise<void> {
    while (this.#running !== undefined) await this.#running;
  }

  /** Stops at once: the POST in flight is aborted, queued notifications are dropped. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#queue.length = 0;
    this.#abort.abort();
    await this.idle();
  }

  async #drain(): Promise<void> {
    for (let next = this.#queue.shift(); next !== undefined && !this.#stopped; next = this.#queue.shift()) {
      await this.#deliver(next);
    }
  }

  async #deliver(notification: AlarmNotification): Promise<void> {
    const body = JSON.stringify(notification);
    const headers: Record<string, string> = {
      "Content-Type": "application/json",
      "User-Agent": "vend-bridge",
      "X-Seqr-Vend-Event": notification.event,
      // The same on every try: a receiver that saw a try whose answer was lost can ignore the next.
      "X-Seqr-Vend-Delivery": randomUUID(),
    };
    if (this.#settings.secret !== undefined) {
      headers["X-Seqr-Vend-Signature"] =
        `sha256=${createHmac("sha256", this.#settings.secret).update(body).digest("hex")}`;
    }
    const context = { alarmId: notification.alarm.id, event: notification.event };
    for (let attempt = 1; !this.#stopped; attempt++) {
      let failure: string;
      try {
        const response = await fetch(this.#settings.url, {
          method: "POST",
          headers,
          body,
          redirect: "manual",
          signal: AbortSignal.any([this.#abort.signal, AbortSignal.timeout(this.#settings.timeoutMs)]),
        });
        await response.body?.cancel();
        if (response.ok) {
          this.delivered++;
          return;
        }
        if (!retryable(response.status)) {
          this.dropped++;
          this.#log.error({ ...context, status: response.status }, "alarm webhook refused the notification; dropped");
          return;
        }
        failure = `HTTP ${response.status}`;
      } catch (error) {
        failure = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      }
      if (this.#stopped) return;
      if (attempt >= this.#settings.attempts) {
        this.dropped++;
        this.#log.error({ ...context, attempts: attempt, failure }, "alarm webhook unreachable; notification dropped");
        return;
      }
      this.#log.warn({ ...context, attempt, failure }, "alarm webhook failed; trying again");
      await this.#wait(Math.min(maxBackoffMs, this.#settings.retryBaseMs * 2 ** (attempt - 1)));
    }
  }

  #wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const signal = this.#abort.signal;
      const wake = () => {
        this.#clock.clearTimeout(timer);
        signal.removeEventListener("abort", wake);
        resolve();
      };
      const timer = this.#clock.setTimeout(wake, ms);
      timer.unref?.();
      signal.addEventListener("abort", wake, { once: true });
    });
  }
}
