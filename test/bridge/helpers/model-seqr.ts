import type { Invoice, InvoiceStatus, Money, PaymentStatus, SeqrApi } from "../../../backend-bridge/seqr/seqr-api.ts";
import { lateInvoiceAnswerMs } from "../../../backend-bridge/seqr/seqr-client-factory.ts";
import {
  type SeqrOperation,
  SeqrResultError,
  SeqrTimeoutError,
  SeqrTransportError,
} from "../../../backend-bridge/seqr/seqr-errors.ts";
import type { Clock } from "../../../platform/clock.ts";
import { SeqrCallsBridgeSkips } from "./seqr-calls-bridge-skips.ts";

/**
 * SEQR as the model-based purchase test sees it: invoices with the reservation state machine of seqr-protocol.md §8
 * on the test's clock (a reservation expires commitReservationTimeout after SEQR created the invoice), faults injected
 * per operation, calls held and answered later ("late success"), and a log of every call with the status it met, for
 * the money checks. Time-aware on purpose: the plain FakeSeqr has no expiry, and the commit deadline is a defect.
 */

export type SeqrFault = "transport-before" | "transport-after" | "timeout-before" | "timeout-after" | "hold";
export type HeldOutcome = "success" | "lost" | "dropped";

export interface ModelInvoice {
  reference: string;
  totalMinor: number;
  currency: string;
  clientInvoiceId: string;
  status: InvoiceStatus;
  version: number;
  createdAt: number;
  expiresAt: number;
  committedMinor: number | undefined;
  /** commitReservation calls SEQR executed successfully (never more than one may exist). */
  commits: number;
  /** The last updateInvoice total SEQR accepted. */
  updatedTotalMinor: number | undefined;
  /** A live bridge instance received sendInvoice's answer (its reference): it can cancel the invoice (set by ModelBridge). */
  answered: boolean;
  /** Set when SEQR's own reservation timeout ended it (not a status a step forced). */
  lapsed: boolean;
  /** Why the invoice left ISSUED/RESERVED (for messages). */
  history: string[];
}

export interface SeqrCall {
  operation: SeqrOperation;
  reference: string | undefined;
  at: number;
  /** The invoice's status when SEQR executed the call (undefined when it was not executed). */
  statusBefore: InvoiceStatus | undefined;
  executed: boolean;
  amountMinor?: number;
  result?: string;
}

interface Held {
  operation: SeqrOperation;
  run: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  reference: string | undefined;
}

export const seqrOperations = [
  "sendInvoice",
  "getPaymentStatus",
  "updateInvoice",
  "commitReservation",
  "cancelInvoice",
] as const satisfies readonly SeqrOperation[];

export class ModelSeqr extends SeqrCallsBridgeSkips implements SeqrApi {
  readonly invoices = new Map<string, ModelInvoice>();
  readonly calls: SeqrCall[] = [];
  readonly held: Held[] = [];
  readonly #faults = new Map<SeqrOperation, SeqrFault[]>();
  readonly #clock: Clock;
  readonly #reservationMs: number;
  #next = 20260115000000000n;
  /** Faults ever injected per operation (the deadline check only blames the bridge when SEQR was reachable). */
  readonly faultsInjected = new Map<SeqrOperation, number>();

  readonly #requestTimeoutMs: number;

  /** `requestTimeoutMs`: the SOAP client's own timeout; a held call's caller gets a timeout then, SEQR may act later. */
  constructor(clock: Clock, reservationSeconds: number, requestTimeoutMs: number) {
    super();
    this.#clock = clock;
    this.#reservationMs = reservationSeconds * 1_000;
    this.#requestTimeoutMs = requestTimeoutMs;
  }

  /** Receipts are accepted and counted: the model checks money, and a receipt moves none. */
  receiptCount = 0;

  submitPaymentReceipt(): Promise<void> {
    this.receiptCount += 1;
    return Promise.resolve();
  }

  inject(operation: SeqrOperation, fault: SeqrFault): void {
    this.#faults.set(operation, [...(this.#faults.get(operation) ?? []), fault]);
    this.faultsInjected.set(operation, (this.faultsInjected.get(operation) ?? 0) + 1);
  }

  faultsPending(operation: SeqrOperation): number {
    return this.#faults.get(operation)?.length ?? 0;
  }

  clearFaults(): void {
    this.#faults.clear();
  }

  /**
   * Answers a held call now: executed and answered (too late if the client timed out already), executed and the answer
   * lost, or never executed.
   */
  release(index: number, outcome: HeldOutcome): void {
    const [held] = this.held.splice(index, 1);
    if (!held) return;
    if (outcome === "dropped") {
      held.reject(new SeqrTimeoutError(held.operation, 10_000));
      return;
    }
    try {
      const value = held.run();
      if (outcome === "success") held.resolve(value);
      else held.reject(new SeqrTransportError(held.operation, new Error("connection reset")));
    } catch (error) {
      held.reject(error as Error);
    }
  }

  releaseAll(): void {
    while (this.held.length > 0) this.release(0, "success");
  }

  /** SEQR's own timers: a reservation (or an unconfirmed invoice) lapses commitReservationTimeout after creation. */
  expireDue(): ModelInvoice[] {
    const now = this.#clock.now();
    const expired: ModelInvoice[] = [];
    for (const invoice of this.invoices.values()) {
      if ((invoice.status === "ISSUED" || invoice.status === "RESERVED") && now >= invoice.expiresAt) {
        this.#set(invoice, "EXPIRED", "reservation timeout");
        invoice.lapsed = true;
        expired.push(invoice);
      }
    }
    return expired;
  }

  /** The customer (or SEQR itself) moves the invoice: confirm, cancel in the app, lapse, or a stray PAID. */
  setStatus(reference: string, status: InvoiceStatus, why: string): boolean {
    const invoice = this.invoices.get(reference);
    if (!invoice) return false;
    const allowed: Record<string, InvoiceStatus[]> = {
      RESERVED: ["ISSUED"],
      CANCELED: ["ISSUED", "RESERVED"],
      EXPIRED: ["ISSUED", "RESERVED"],
      PAID: ["ISSUED"],
    };
    if (!allowed[status]?.includes(invoice.status)) return false;
    this.#set(invoice, status, why);
    return true;
  }

  #set(invoice: ModelInvoice, status: InvoiceStatus, why: string): void {
    invoice.status = status;
    invoice.version += 1;
    invoice.history.push(`${status}@${this.#clock.now()} (${why})`);
  }

  #call<T>(operation: SeqrOperation, reference: string | undefined, work: () => T, amountMinor?: number): Promise<T> {
    const record: SeqrCall = { operation, reference, at: this.#clock.now(), statusBefore: undefined, executed: false };
    if (amountMinor !== undefined) record.amountMinor = amountMinor;
    this.calls.push(record);
    const run = () => {
      this.expireDue();
      record.at = this.#clock.now();
      record.statusBefore = reference === undefined ? undefined : this.invoices.get(reference)?.status;
      record.executed = true;
      try {
        const value = work();
        record.result = "ok";
        return value;
      } catch (error) {
        record.result = error instanceof Error ? error.message : String(error);
        throw error;
      }
    };
    const fault = this.#faults.get(operation)?.shift();
    return new Promise<T>((resolve, reject) => {
      queueMicrotask(() => {
        try {
          switch (fault) {
            case undefined:
              resolve(run());
              return;
            case "hold":
              // The request reached SEQR, which answers (or acts) only when a step releases it; the client gives up
              // after its request timeout, as the SOAP client does.
              this.held.push({
                operation,
                run,
                resolve: resolve as (value: unknown) => void,
                reject,
                reference,
              });
              // As composed by seqr-client-factory.ts: sendInvoice's connection waits longer for a late answer.
              this.#clock.setTimeout(
                () => reject(new SeqrTimeoutError(operation, this.#clientTimeoutMs(operation))),
                this.#clientTimeoutMs(operation),
              );
              return;
            case "transport-before":
              reject(new SeqrTransportError(operation, new Error("connect ECONNREFUSED")));
              return;
            case "timeout-before":
              reject(new SeqrTimeoutError(operation, 10_000));
              return;
            case "transport-after":
              run();
              reject(new SeqrTransportError(operation, new Error("connection reset")));
              return;
            case "timeout-after":
              run();
              reject(new SeqrTimeoutError(operation, 10_000));
              return;
          }
        } catch (error) {
          reject(error as Error);
        }
      });
    });
  }

  #clientTimeoutMs(operation: SeqrOperation): number {
    return operation === "sendInvoice" ? Math.max(this.#requestTimeoutMs, lateInvoiceAnswerMs) : this.#requestTimeoutMs;
  }

  #invoice(operation: SeqrOperation, reference: string): ModelInvoice {
    const invoice = this.invoices.get(reference);
    if (!invoice) throw new SeqrResultError(operation, 54, "INVALID_INVOICE_REFERENCE");
    return invoice;
  }

  sendInvoice(invoice: Invoice): Promise<{ invoiceReference: string; invoiceQRCode?: string }> {
    return this.#call("sendInvoice", undefined, () => {
      const reference = String(this.#next++);
      const now = this.#clock.now();
      const seconds = invoice.commitReservationTimeoutSeconds ?? this.#reservationMs / 1_000;
      this.invoices.set(reference, {
        reference,
        totalMinor: invoice.total.minor,
        currency: invoice.total.currency,
        clientInvoiceId: invoice.clientInvoiceId,
        status: "ISSUED",
        version: 0,
        createdAt: now,
        expiresAt: now + seconds * 1_000,
        committedMinor: undefined,
        commits: 0,
        updatedTotalMinor: undefined,
        answered: false,
        lapsed: false,
        history: [`ISSUED@${now}`],
      });
      return { invoiceReference: reference };
    });
  }

  updateInvoice(invoiceReference: string, invoice: Invoice): Promise<void> {
    return this.#call(
      "updateInvoice",
      invoiceReference,
      () => {
        const stored = this.#invoice("updateInvoice", invoiceReference);
        if (invoice.total.minor > stored.totalMinor) throw new SeqrResultError("updateInvoice", 49, undefined);
        if (stored.status !== "RESERVED" && stored.status !== "ISSUED") {
          throw new SeqrResultError("updateInvoice", 49, undefined);
        }
        stored.updatedTotalMinor = invoice.total.minor;
      },
      invoice.total.minor,
    );
  }

  getPaymentStatus(invoiceReference: string, _invoiceVersion: number): Promise<PaymentStatus> {
    return this.#call("getPaymentStatus", invoiceReference, () => {
      const stored = this.#invoice("getPaymentStatus", invoiceReference);
      return {
        status: stored.status,
        version: stored.version,
        ...(stored.status === "PAID" ? { ersReference: `ers${invoiceReference}` } : {}),
      };
    });
  }

  commitReservation(invoiceReference: string, amount: Money): Promise<{ ersReference?: string }> {
    return this.#call(
      "commitReservation",
      invoiceReference,
      () => {
        const stored = this.#invoice("commitReservation", invoiceReference);
        if (stored.status === "EXPIRED") throw new SeqrResultError("commitReservation", 58, undefined);
        if (stored.status !== "RESERVED") throw new SeqrResultError("commitReservation", 96, undefined);
        if (amount.minor > stored.totalMinor) throw new SeqrResultError("commitReservation", 11, undefined);
        this.#set(stored, "PAID", `commit ${amount.minor}`);
        stored.committedMinor = amount.minor;
        stored.commits += 1;
        return { ersReference: `ers${invoiceReference}` };
      },
      amount.minor,
    );
  }

  cancelInvoice(invoiceReference: string): Promise<void> {
    return this.#call("cancelInvoice", invoiceReference, () => {
      const stored = this.#invoice("cancelInvoice", invoiceReference);
      if (stored.status === "CANCELED") throw new SeqrResultError("cancelInvoice", 95, undefined);
      if (stored.status === "PAID") throw new SeqrResultError("cancelInvoice", 50, undefined);
      if (stored.status === "EXPIRED") throw new SeqrResultError("cancelInvoice", 58, undefined);
      this.#set(stored, "CANCELED", "cancelInvoice");
    });
  }
}
