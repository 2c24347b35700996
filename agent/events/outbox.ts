import type { Clock, TimerHandle } from "../../platform/clock.ts";
import type { Logger } from "../../platform/logger.ts";
import type { Journal } from "../journal/journal.ts";
import type { StoredEvent } from "../journal/journal-state.ts";

/**
 * Publishes events and resends the unacknowledged ones (design §5, money rule 5). Events enter the outbox in the
 * journal, on disk, before they are first published; they leave it when the backend's `cmd/ack` names them. Until
 * then they are resent on every reconnect and periodically while connected; the backend deduplicates by eventId.
 */

export interface EventTransport {
  isConnected(): boolean;
  /** Publishes at QoS 1; resolves when the broker has it (PUBACK), rejects when the connection dropped. */
  publishEvent(event: StoredEvent): Promise<void>;
}

export interface OutboxOptions {
  journal: Journal;
  transport: EventTransport;
  clock: Clock;
  logger: Logger;
  /** Resend an event not acknowledged this long after its last sending. */
  resendAfterMs?: number;
  /** How often to look for events to resend. */
  scanEveryMs?: number;
}

export class Outbox {
  readonly #o: OutboxOptions & { resendAfterMs: number; scanEveryMs: number };
  readonly #log: Logger;
  /** eventId -> when it was last handed to the broker; only in memory: after a restart everything is resent. */
  readonly #lastSent = new Map<string, number>();
  #timer: TimerHandle | undefined;
  #stopped = false;

  constructor(options: OutboxOptions) {
    this.#o = { resendAfterMs: 15_000, scanEveryMs: 5_000, ...options };
    this.#log = options.logger.child({ module: "outbox" });
  }

  start(): void {
    this.#schedule();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) this.#o.clock.clearTimeout(this.#timer);
  }

  get pendingCount(): number {
    return this.#o.journal.state.outbox.size;
  }

  /** Publishes freshly journaled events (if connected; otherwise the next reconnect sends them). */
  publish(events: readonly StoredEvent[]): void {
    for (const event of events) this.#send(event);
  }

  /** Resends everything unacknowledged, oldest first: on every (re)connect. */
  resendAll(): void {
    const events = [...this.#o.journal.state.outbox.values()];
    if (events.length > 0) this.#log.info({ count: events.length }, "resending unacknowledged events");
    for (const event of events) this.#send(event);
  }

  /** The backend stored these events: stop resending them. Unknown ids (already acknowledged) are ignored. */
  async acknowledge(eventIds: readonly string[]): Promise<void> {
    const known = eventIds.filter((eventId) => this.#o.journal.state.outbox.has(eventId));
    if (known.length === 0) return;
    await this.#o.journal.commit("ack", { t: "ack", eventIds: known });
    for (const eventId of known) this.#lastSent.delete(eventId);
  }

  #send(event: StoredEvent): void {
    if (!this.#o.transport.isConnected()) return;
    this.#lastSent.set(event.payload.eventId, this.#o.clock.now());
    this.#o.transport.publishEvent(event).catch((error: unknown) => {
      // Not lost: it stays in the outbox and goes again on the next reconnect or scan.
      this.#log.debug({ eventId: event.payload.eventId, err: error }, "event not delivered to the broker yet");
      this.#lastSent.delete(event.payload.eventId);
    });
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = this.#o.clock.setTimeout(() => {
      this.#scan();
      this.#schedule();
    }, this.#o.scanEveryMs);
    this.#timer.unref?.();
  }

  #scan(): void {
    const now = this.#o.clock.now();
    for (const event of this.#o.journal.state.outbox.values()) {
      const last = this.#lastSent.get(event.payload.eventId);
      if (last === undefined || now - last >= this.#o.resendAfterMs) this.#send(event);
    }
  }
}
