import type { Invoice, InvoiceStatus, Money, PaymentStatus, SeqrApi } from "../../../backend-bridge/seqr/seqr-api.ts";
import {
  type SeqrOperation,
  SeqrResultError,
  SeqrTimeoutError,
  SeqrTransportError,
} from "../../../backend-bridge/seqr/seqr-errors.ts";
import { SeqrCallsBridgeSkips } from "./seqr-calls-bridge-skips.ts";

/**
 * An in-memory SEQR for the bridge's tests: invoices with the reservation state machine of seqr-protocol.md §8, a
 * customer who confirms or cancels, and per-call failure injection (an error before the call is executed, or after it:
 * SEQR acted but the answer was lost).
 */
export interface FakeInvoice {
  reference: string;
  invoice: Invoice;
  status: InvoiceStatus;
  version: number;
  updates: Invoice[];
  committed: Money | undefined;
  commitCount: number;
  cancelCount: number;
}

type Injection = { when: "before" | "after"; error: () => Error; times: number };

export class FakeSeqr extends SeqrCallsBridgeSkips implements SeqrApi {
  readonly invoices = new Map<string, FakeInvoice>();
  readonly calls: { operation: SeqrOperation; reference?: string; version?: number; at?: number }[] = [];
  /** The bridge's clock, when set: each call records when it was made (`at`). */
  now: (() => number) | undefined;
  readonly #injections = new Map<SeqrOperation, Injection[]>();
  readonly #hangs = new Map<SeqrOperation, number>();
  readonly #holds = new Map<SeqrOperation, Promise<void>[]>();
  #next = 20260115000000000n;

  /** Makes the next `times` calls of `operation` fail. `after`: SEQR executes the call, then the answer is lost. */
  fail(
    operation: SeqrOperation,
    error: "timeout" | "transport" | number = "transport",
    options: { times?: number; when?: "before" | "after" } = {},
  ): void {
    const make = () =>
      error === "timeout"
        ? new SeqrTimeoutError(operation, 10_000)
        : error === "transport"
          ? new SeqrTransportError(
              operation,
              Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }),
            )
          : new SeqrResultError(operation, error, undefined);
    const list = this.#injections.get(operation) ?? [];
    list.push({ when: options.when ?? "before", error: make, times: options.times ?? 1 });
    this.#injections.set(operation, list);
  }

  /**
   * The next call of `operation` waits until the returned function is called, then runs (a slow SEQR whose answer
   * arrives late: after the bridge's own timeout, say).
   */
  hold(operation: SeqrOperation): () => void {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.#holds.set(operation, [...(this.#holds.get(operation) ?? []), gate]);
    return release;
  }

  /** The next `times` calls of `operation` never answer. */
  hang(operation: SeqrOperation, times = 1): void {
    this.#hangs.set(operation, (this.#hangs.get(operation) ?? 0) + times);
  }

  count(operation: SeqrOperation): number {
    return this.calls.filter((call) => call.operation === operation).length;
  }

  only(): FakeInvoice {
    const all = [...this.invoices.values()];
    if (all.length !== 1) throw new Error(`expected one invoice, have ${all.length}`);
    return all[0] as FakeInvoice;
  }

  /** The customer confirms with the PIN. */
  confirm(reference: string): void {
    this.#transition(reference, "RESERVED");
  }

  /** The customer cancels in the app. */
  cancelByCustomer(reference: string): void {
    this.#transition(reference, "CANCELED");
  }

  /** SEQR lets the reservation lapse (commitReservationTimeout passed on its side). */
  expire(reference: string): void {
    this.#transition(reference, "EXPIRED");
  }

  #transition(reference: string, status: InvoiceStatus): void {
    const invoice = this.invoices.get(reference);
    if (!invoice) throw new Error(`no invoice ${reference}`);
    invoice.status = status;
    invoice.version += 1;
  }

  async #call<T>(operation: SeqrOperation, reference: string | undefined, work: () => T, version?: number): Promise<T> {
    this.calls.push({
      operation,
      ...(reference !== undefined ? { reference } : {}),
      ...(version !== undefined ? { version } : {}),
      ...(this.now ? { at: this.now() } : {}),
    });
    await Promise.resolve();
    const held = this.#holds.get(operation)?.shift();
    if (held) await held;
    const hangs = this.#hangs.get(operation) ?? 0;
    if (hangs > 0) {
      this.#hangs.set(operation, hangs - 1);
      return new Promise<T>(() => undefined);
    }
    const injection = this.#injections.get(operation)?.[0];
    if (injection) {
      injection.times -= 1;
      if (injection.times <= 0) this.#injections.get(operation)?.shift();
      if (injection.when === "before") throw injection.error();
      work();
      throw injection.error();
    }
    return work();
  }

  #invoice(operation: SeqrOperation, reference: string): FakeInvoice {
    const invoice = this.invoices.get(reference);
    if (!invoice) throw new SeqrResultError(operation, 54, "INVALID_INVOICE_REFERENCE");
    return invoice;
  }

  sendInvoice(invoice: Invoice): Promise<{ invoiceReference: string; invoiceQRCode?: string }> {
    return this.#call("sendInvoice", undefined, () => {
      const reference = String(this.#next++);
      this.invoices.set(reference, {
        reference,
        invoice,
        status: "ISSUED",
        version: 0,
        updates: [],
        committed: undefined,
        commitCount: 0,
        cancelCount: 0,
      });
      return { invoiceReference: reference, invoiceQRCode: `HTTP://SEQR.SE/R${reference}` };
    });
  }

  updateInvoice(invoiceReference: string, invoice: Invoice): Promise<void> {
    return this.#call("updateInvoice", invoiceReference, () => {
      const stored = this.#invoice("updateInvoice", invoiceReference);
      if (invoice.total.minor > stored.invoice.total.minor) throw new SeqrResultError("updateInvoice", 49, undefined);
      stored.updates.push(invoice);
    });
  }

  getPaymentStatus(invoiceReference: string, invoiceVersion: number): Promise<PaymentStatus> {
    return this.#call(
      "getPaymentStatus",
      invoiceReference,
      () => {
        const stored = this.#invoice("getPaymentStatus", invoiceReference);
        // seqr-protocol.md §7: the payment's ersReference comes with PAID (commitReservation answers none).
        return {
          status: stored.status,
          version: stored.version,
          ...(stored.status === "PAID" ? { ersReference: `ers${invoiceReference}` } : {}),
        };
      },
      invoiceVersion,
    );
  }

  commitReservation(invoiceReference: string, amount: Money): Promise<{ ersReference?: string }> {
    return this.#call("commitReservation", invoiceReference, () => {
      const stored = this.#invoice("commitReservation", invoiceReference);
      if (stored.status !== "RESERVED") throw new SeqrResultError("commitReservation", 96, undefined);
      if (amount.minor > stored.invoice.total.minor) throw new SeqrResultError("commitReservation", 11, undefined);
      stored.status = "PAID";
      stored.version += 1;
      stored.committed = amount;
      stored.commitCount += 1;
      return {};
    });
  }

  /** Receipts SEQR accepted, in order (submitPaymentReceipt, after a commit). */
  readonly receipts: { ersReference: string; mimeType: string; text: string; type: string }[] = [];

  submitPaymentReceipt(ersReference: string, receipt: { mimeType: string; data: Buffer; type: string }): Promise<void> {
    return this.#call("submitPaymentReceipt", ersReference, () => {
      this.receipts.push({
        ersReference,
        mimeType: receipt.mimeType,
        text: receipt.data.toString("utf8"),
        type: receipt.type,
      });
    });
  }

  /** Refunds SEQR accepted, in order (refundPayment, the operator's console or CLI). */
  readonly refunds: { ersReference: string; invoice: Invoice; refundReference: string }[] = [];

  /** A paid invoice's payment (`ers<reference>`), never refunded above what was committed (SEQR's 98). */
  override refundPayment(ersReference: string, invoice: Invoice): Promise<{ ersReference: string }> {
    return this.#call("refundPayment", ersReference, () => {
      const paid = [...this.invoices.values()].find(
        (stored) => stored.status === "PAID" && `ers${stored.reference}` === ersReference,
      );
      if (!paid) throw new SeqrResultError("refundPayment", 23, "INVALID_ERS_REFERENCE");
      const earlier = this.refunds
        .filter((refund) => refund.ersReference === ersReference)
        .reduce((sum, refund) => sum + refund.invoice.total.minor, 0);
      if (earlier + invoice.total.minor > (paid.committed?.minor ?? 0)) {
        throw new SeqrResultError("refundPayment", 98, undefined);
      }
      const refundReference = `refund${this.#next++}`;
      this.refunds.push({ ersReference, invoice, refundReference });
      return { ersReference: refundReference };
    });
  }

  cancelInvoice(invoiceReference: string): Promise<void> {
    return this.#call("cancelInvoice", invoiceReference, () => {
      const stored = this.#invoice("cancelInvoice", invoiceReference);
      if (stored.status === "CANCELED") throw new SeqrResultError("cancelInvoice", 95, undefined);
      if (stored.status === "PAID") throw new SeqrResultError("cancelInvoice", 50, undefined);
      stored.status = "CANCELED";
      stored.version += 1;
      stored.cancelCount += 1;
    });
  }
}
