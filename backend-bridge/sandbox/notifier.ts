import type { Clock, TimerHandle } from "../../platform/clock.ts";
import type { Logger } from "../../platform/logger.ts";
import type { FaultInjector } from "./fault-injector.ts";
import { postBody } from "./http-post.ts";
import type { NotificationTrigger, SandboxInvoice } from "./invoice-ledger.ts";

/**
 * SEQR's call to the invoice's notificationUrl: an empty POST, expecting 200 (seqr-protocol.md §10). No retries
 * (none are documented). Every attempt is recorded so tests and people can see what the reseller was told. Faults
 * can drop a notification, delay it or send it twice.
 */

export interface NotificationAttempt {
  invoiceReference: string;
  trigger: NotificationTrigger;
  url: string;
  /** When the POST was (or would have been) sent. */
  at: number;
  outcome: "pending" | "delivered" | "failed" | "dropped";
  status?: number;
  error?: string;
}

export class Notifier {
  private readonly log: NotificationAttempt[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private readonly delayed = new Set<TimerHandle>();
  private readonly clock: Clock;
  private readonly faults: FaultInjector;
  private readonly timeoutMs: number;
  private readonly logger: Logger;

  constructor(clock: Clock, faults: FaultInjector, timeoutMs: number, logger: Logger) {
    this.clock = clock;
    this.faults = faults;
    this.timeoutMs = timeoutMs;
    this.logger = logger;
  }

  notify(invoice: SandboxInvoice, trigger: NotificationTrigger): void {
    const url = invoice.notificationUrl;
    if (!url) return;
    const { invoiceReference } = invoice;
    const fault = this.faults.takeNotificationFault({ invoiceReference, trigger });
    if (fault?.mode === "drop") {
      this.log.push({ invoiceReference, trigger, url, at: this.clock.now(), outcome: "dropped" });
      return;
    }
    const copies = fault?.mode === "twice" ? 2 : 1;
    for (let copy = 0; copy < copies; copy++) {
      if (fault?.mode === "delay") {
        const handle = this.clock.setTimeout(() => {
          this.delayed.delete(handle);
          this.send(invoiceReference, trigger, url);
        }, fault.delayMs);
        this.delayed.add(handle);
      } else {
        this.send(invoiceReference, trigger, url);
      }
    }
  }

  attempts(invoiceReference?: string): NotificationAttempt[] {
    return this.log.filter(
      (attempt) => invoiceReference === undefined || attempt.invoiceReference === invoiceReference,
    );
  }

  /** Resolves when every notification already sent has been answered (delayed ones not yet sent are not waited). */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  close(): void {
    for (const handle of this.delayed) this.clock.clearTimeout(handle);
    this.delayed.clear();
  }

  private send(invoiceReference: string, trigger: NotificationTrigger, url: string): void {
    const attempt: NotificationAttempt = { invoiceReference, trigger, url, at: this.clock.now(), outcome: "pending" };
    this.log.push(attempt);
    if (this.log.length > 10_000) this.log.splice(0, this.log.length - 10_000);
    const delivery = postBody(url, "", {}, { timeoutMs: this.timeoutMs }).then(
      ({ status }) => {
        attempt.status = status;
        attempt.outcome = status === 200 ? "delivered" : "failed";
        if (status !== 200) this.logger.warn({ invoiceReference, trigger, status }, "notification answered non-200");
      },
      (error: Error) => {
        attempt.outcome = "failed";
        attempt.error = error.message;
        this.logger.warn({ invoiceReference, trigger, error: error.message }, "notification failed");
      },
    );
    this.inFlight.add(delivery);
    void delivery.finally(() => this.inFlight.delete(delivery));
  }
}
