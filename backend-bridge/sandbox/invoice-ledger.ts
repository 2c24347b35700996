import type { Clock, TimerHandle } from "../../platform/clock.ts";
import { seqrResultCodes } from "../seqr/result-codes.ts";
import type { InvoiceStatus, Money } from "../seqr/seqr-api.ts";
import type { SandboxOptions, SandboxTerminal } from "./sandbox-options.ts";
import { TransactionPeriods } from "./transaction-periods.ts";

/**
 * SEQR's invoices as the sandbox keeps them: the state machine of seqr-protocol.md §8 with its timing rules.
 *
 *   ISSUED --customer PIN--> RESERVED (reservation modes) | PAID (immediate modes)
 *   ISSUED --customer cancel | cancelInvoice | newer invoice on a single-invoice terminal--> CANCELED
 *   RESERVED --commitReservation(amount <= reserved)--> PAID;  RESERVED --cancelInvoice--> CANCELED
 *   RESERVED/PAID (confirmed) --no getPaymentStatus within ackDeadlineMs--> CANCELED (reversed, the 20-second rule)
 *   RESERVED --commitReservationTimeout elapsed--> EXPIRED
 *
 * Every change bumps invoiceVersion. Business errors are thrown as SeqrFailure with SEQR's result code and a reason
 * (the reason goes to the sandbox's call log; on the wire SEQR only gives the code's name).
 */

export class SeqrFailure extends Error {
  readonly code: number;
  constructor(code: number, reason: string) {
    super(reason);
    this.code = code;
  }
}

const codes = seqrResultCodes;

export const paymentModes = [
  "IMMEDIATE_DEBIT",
  "RESERVATION_DESIRED",
  "RESERVATION_REQUIRED",
  "RESERVATION_REQUIRED_PRELIMINARY_AMOUNT",
] as const;
export type PaymentMode = (typeof paymentModes)[number];

export interface LedgerRow {
  description: string;
  quantity: number;
  sku?: string;
  unitPrice?: Money;
  total: Money;
}

/** An invoice as read from a request, amounts already in minor units; absent fields undefined. */
export interface InvoiceInput {
  paymentMode?: string;
  acknowledgmentMode?: string;
  issueDate?: string;
  title?: string;
  clientInvoiceId?: string;
  rows: LedgerRow[];
  total?: Money;
  cashierId?: string;
  footer?: string;
  notificationUrl?: string;
  commitReservationTimeoutSeconds?: number;
}

export type NotificationTrigger = "confirm" | "cancel" | "reversal" | "expiry";

export interface HistoryEntry {
  at: number;
  status: InvoiceStatus;
  version: number;
  event: string;
}

export interface SandboxInvoice {
  invoiceReference: string;
  invoiceQRCode: string;
  terminalId: string;
  paymentMode: PaymentMode;
  acknowledgmentMode: string | undefined;
  issueDate: string | undefined;
  title: string;
  clientInvoiceId: string;
  cashierId: string;
  footer: string | undefined;
  rows: LedgerRow[];
  total: Money;
  notificationUrl: string | undefined;
  commitReservationTimeoutSeconds: number | undefined;
  status: InvoiceStatus;
  version: number;
  /** Phone number of the customer who scanned it (UPS) or opened it in the app. */
  customer: string | undefined;
  /** The amount held on the customer's account while RESERVED. */
  reserved: Money | undefined;
  /** What was taken: the committed amount, or the total for an immediate debit. */
  paid: Money | undefined;
  ersReference: string | undefined;
  paymentDate: string | undefined;
  refunds: { ersReference: string; amount: Money; at: number }[];
  receipts: { ersReference: string; mimeType: string; receiptType: string; bytes: number; at: number }[];
  createdAt: number;
  /** True between a confirmation and the first getPaymentStatus after it (the 20-second rule). */
  awaitingStatusFetch: boolean;
  history: HistoryEntry[];
}

interface Timers {
  ack?: TimerHandle;
  expiry?: TimerHandle;
}

export interface LedgerHooks {
  /** Called after the state changed in a way the reseller is told about by notificationUrl. */
  notify(invoice: SandboxInvoice, trigger: NotificationTrigger): void;
  /** Any change (for live views). */
  changed?(invoice: SandboxInvoice): void;
}

type LedgerSettings = Pick<
  SandboxOptions,
  "ackDeadlineMs" | "defaultCommitReservationTimeoutSeconds" | "notifyOn" | "requireHttpsNotificationUrl"
>;

const reservationModes: ReadonlySet<string> = new Set([
  "RESERVATION_REQUIRED",
  "RESERVATION_REQUIRED_PRELIMINARY_AMOUNT",
]);

export class InvoiceLedger {
  private readonly invoices = new Map<string, SandboxInvoice>();
  private readonly byErsReference = new Map<string, SandboxInvoice>();
  private readonly timers = new Map<string, Timers>();
  private lastInvoiceReference = 0;
  private referenceSequence = 0;
  private readonly settings: LedgerSettings;
  private readonly clock: Clock;
  private readonly hooks: LedgerHooks;
  /** What SEQR settled, period by period: the reconciliation report's source. */
  readonly periods = new TransactionPeriods();

  constructor(settings: LedgerSettings, clock: Clock, hooks: LedgerHooks) {
    this.settings = settings;
    this.clock = clock;
    this.hooks = hooks;
  }

  // ---- merchant side (SOAP) ------------------------------------------------------------------------------------

  sendInvoice(terminal: SandboxTerminal, input: InvoiceInput): SandboxInvoice {
    const checked = this.checkInvoice(terminal, input, { requireAll: true });
    const paymentMode = checked.paymentMode as PaymentMode;
    let timeout = input.commitReservationTimeoutSeconds;
    if (paymentMode === "RESERVATION_REQUIRED_PRELIMINARY_AMOUNT" && timeout === undefined) {
      throw new SeqrFailure(codes.INVALID_INVOICE_DATA, "preliminary-amount mode needs commitReservationTimeout");
    }
    if (reservationModes.has(paymentMode) && timeout === undefined) {
      timeout = this.settings.defaultCommitReservationTimeoutSeconds;
    }
    if (terminal.singleOpenInvoice) {
      for (const open of this.invoices.values()) {
        if (open.terminalId === terminal.id && open.status === "ISSUED") {
          this.transition(open, "CANCELED", "replaced by a newer invoice on this cash-register terminal");
        }
      }
    }
    const invoiceReference = this.newInvoiceReference();
    const invoice: SandboxInvoice = {
      invoiceReference,
      invoiceQRCode: `HTTP://SEQR.SE/R${invoiceReference}`,
      terminalId: terminal.id,
      paymentMode,
      acknowledgmentMode: input.acknowledgmentMode,
      issueDate: input.issueDate,
      title: checked.title,
      clientInvoiceId: checked.clientInvoiceId,
      cashierId: checked.cashierId,
      footer: input.footer,
      rows: input.rows,
      total: checked.total,
      notificationUrl: input.notificationUrl,
      commitReservationTimeoutSeconds: timeout,
      status: "ISSUED",
      version: 0,
      customer: undefined,
      reserved: undefined,
      paid: undefined,
      ersReference: undefined,
      paymentDate: undefined,
      refunds: [],
      receipts: [],
      createdAt: this.clock.now(),
      awaitingStatusFetch: false,
      history: [{ at: this.clock.now(), status: "ISSUED", version: 0, event: "sendInvoice" }],
    };
    this.invoices.set(invoiceReference, invoice);
    this.hooks.changed?.(invoice);
    return invoice;
  }

  updateInvoice(terminal: SandboxTerminal, invoiceReference: string, input: InvoiceInput): SandboxInvoice {
    const invoice = this.own(terminal, invoiceReference);
    if (invoice.status !== "ISSUED" && invoice.status !== "RESERVED") {
      throw new SeqrFailure(codes.INVALID_INVOICE_DATA, `an invoice in state ${invoice.status} cannot be updated`);
    }
    const checked = this.checkInvoice(terminal, input, { requireAll: false });
    if (checked.total.currency !== invoice.total.currency) {
      throw new SeqrFailure(codes.INVALID_INVOICE_DATA, "the currency of an invoice cannot change");
    }
    if (invoice.reserved && checked.total.minor > invoice.reserved.minor) {
      throw new SeqrFailure(
        codes.INVALID_INVOICE_DATA,
        `total ${checked.total.minor} exceeds the reservation of ${invoice.reserved.minor}`,
      );
    }
    if (input.paymentMode !== undefined && input.paymentMode !== invoice.paymentMode) {
      throw new SeqrFailure(codes.INVALID_INVOICE_DATA, "the payment mode of an invoice cannot change");
    }
    invoice.rows = input.rows;
    invoice.total = checked.total;
    if (input.title !== undefined) invoice.title = input.title;
    if (input.cashierId !== undefined) invoice.cashierId = input.cashierId;
    if (input.footer !== undefined) invoice.footer = input.footer;
    if (input.notificationUrl !== undefined) invoice.notificationUrl = input.notificationUrl;
    this.bump(invoice, "updateInvoice");
    return invoice;
  }

  getPaymentStatus(terminal: SandboxTerminal, invoiceReference: string): SandboxInvoice {
    const invoice = this.own(terminal, invoiceReference);
    if (invoice.awaitingStatusFetch) {
      // Lenient reading of the 20-second rule (seqr-protocol.md §12.8): any status call acknowledges.
      invoice.awaitingStatusFetch = false;
      this.clearTimer(invoice.invoiceReference, "ack");
    }
    return invoice;
  }

  commitReservation(terminal: SandboxTerminal, invoiceReference: string, amount: Money | undefined): SandboxInvoice {
    const invoice = this.own(terminal, invoiceReference);
    if (invoice.status === "EXPIRED") throw new SeqrFailure(codes.PAYMENT_EXPIRED, "the reservation has expired");
    if (invoice.status !== "RESERVED" || !invoice.reserved) {
      throw new SeqrFailure(codes.INVOICE_STATE_NOT_RESERVED, `the invoice is ${invoice.status}, not RESERVED`);
    }
    const committed = amount ?? invoice.reserved;
    if (committed.currency !== invoice.reserved.currency) {
      throw new SeqrFailure(
        codes.INVALID_INVOICE_DATA,
        `commit in ${committed.currency}, reserved in ${invoice.reserved.currency}`,
      );
    }
    if (committed.minor <= 0)
      throw new SeqrFailure(codes.REJECTED_AMOUNT, "a commit must be above zero; cancel instead");
    if (committed.minor > invoice.reserved.minor) {
      throw new SeqrFailure(
        codes.REJECTED_AMOUNT,
        `commit of ${committed.minor} exceeds the reservation of ${invoice.reserved.minor}`,
      );
    }
    this.pay(invoice, committed, "commitReservation");
    return invoice;
  }

  cancelInvoice(terminal: SandboxTerminal, invoiceReference: string): SandboxInvoice {
    const invoice = this.own(terminal, invoiceReference);
    if (invoice.status === "PAID") throw new SeqrFailure(codes.CANNOT_CANCEL_PAID_INVOICE, "the invoice is paid");
    if (invoice.status === "CANCELED" || invoice.status === "EXPIRED" || invoice.status === "FAILED") {
      throw new SeqrFailure(codes.INVOICE_ALREADY_CANCELED, `the invoice is already ${invoice.status}`);
    }
    this.transition(invoice, "CANCELED", "cancelInvoice");
    return invoice;
  }

  refundPayment(terminal: SandboxTerminal, ersReference: string, input: InvoiceInput): string {
    const invoice = this.byErsReference.get(ersReference);
    if (!invoice || invoice.terminalId !== terminal.id || !invoice.paid) {
      throw new SeqrFailure(codes.INVALID_ERS_REFERENCE, `no payment ${ersReference} on this terminal`);
    }
    const amount = input.total;
    if (!amount) throw new SeqrFailure(codes.INVALID_INVOICE_DATA, "a refund needs totalAmount");
    this.checkNotificationUrl(input.notificationUrl);
    if (amount.currency !== invoice.paid.currency) {
      throw new SeqrFailure(
        codes.INVALID_INVOICE_DATA,
        `refund in ${amount.currency}, paid in ${invoice.paid.currency}`,
      );
    }
    if (amount.minor <= 0) throw new SeqrFailure(codes.REJECTED_AMOUNT, "a refund must be above zero");
    const refunded = invoice.refunds.reduce((sum, refund) => sum + refund.amount.minor, 0);
    if (refunded + amount.minor > invoice.paid.minor) {
      throw new SeqrFailure(
        codes.SUM_OF_REFUNDS_CAN_NOT_BE_MORE_THAN_ORIGINAL_TRANSACTION,
        `refunds would reach ${refunded + amount.minor} of ${invoice.paid.minor} paid`,
      );
    }
    const refundReference = this.newErsReference();
    invoice.refunds.push({ ersReference: refundReference, amount, at: this.clock.now() });
    this.periods.recordRefund({
      ...settlement(invoice, refundReference, amount),
      paymentErsReference: ersReference,
    });
    invoice.history.push({
      at: this.clock.now(),
      status: invoice.status,
      version: invoice.version,
      event: "refundPayment",
    });
    this.hooks.changed?.(invoice);
    return refundReference;
  }

  submitPaymentReceipt(
    terminal: SandboxTerminal,
    ersReference: string,
    receipt: { mimeType: string; receiptType: string; bytes: number },
  ): void {
    const invoice = this.byErsReference.get(ersReference);
    if (!invoice || invoice.terminalId !== terminal.id) {
      throw new SeqrFailure(codes.INVALID_ERS_REFERENCE, `no payment ${ersReference} on this terminal`);
    }
    invoice.receipts.push({ ersReference, ...receipt, at: this.clock.now() });
  }

  markTransactionPeriod(): string {
    const transactionPeriodId = this.newErsReference();
    this.periods.close(transactionPeriodId);
    return transactionPeriodId;
  }

  // ---- customer side (the app) ---------------------------------------------------------------------------------

  /** The customer confirmed with the right PIN (checked by the caller). */
  confirm(invoiceReference: string, msisdn: string): SandboxInvoice {
    const invoice = this.forCustomer(invoiceReference, msisdn);
    const blocker = confirmBlocker(invoice);
    if (blocker) throw new SeqrFailure(codes.REJECTED_PAYMENT, blocker);
    invoice.customer = msisdn;
    if (reservationModes.has(invoice.paymentMode)) {
      invoice.reserved = { ...invoice.total };
      this.transition(invoice, "RESERVED", "customer confirmed with PIN");
      const seconds = invoice.commitReservationTimeoutSeconds ?? this.settings.defaultCommitReservationTimeoutSeconds;
      this.setTimer(invoice.invoiceReference, "expiry", seconds * 1000, () => {
        if (invoice.status === "RESERVED") {
          this.transition(invoice, "EXPIRED", `not committed within ${seconds} s`);
          this.notifyIf(invoice, "expiry");
        }
      });
    } else {
      this.pay(invoice, invoice.total, "customer confirmed with PIN (immediate debit)");
    }
    invoice.awaitingStatusFetch = true;
    this.setTimer(invoice.invoiceReference, "ack", this.settings.ackDeadlineMs, () => {
      if (invoice.awaitingStatusFetch && (invoice.status === "RESERVED" || invoice.status === "PAID")) {
        invoice.awaitingStatusFetch = false;
        this.transition(invoice, "CANCELED", `reversed: status not fetched within ${this.settings.ackDeadlineMs} ms`);
        this.notifyIf(invoice, "reversal");
      }
    });
    this.notifyIf(invoice, "confirm");
    return invoice;
  }

  cancelByCustomer(invoiceReference: string, msisdn: string): SandboxInvoice {
    const invoice = this.forCustomer(invoiceReference, msisdn);
    if (invoice.status !== "ISSUED") {
      throw new SeqrFailure(
        codes.INVOICE_ALREADY_CANCELED,
        `the invoice is ${invoice.status}; only ISSUED can be declined`,
      );
    }
    invoice.customer = msisdn;
    this.transition(invoice, "CANCELED", "customer canceled in the app");
    this.notifyIf(invoice, "cancel");
    return invoice;
  }

  /** The customer scanned the invoice (UPS answered with it, or the app read its R-code). */
  attachCustomer(invoiceReference: string, msisdn: string): SandboxInvoice {
    const invoice = this.forCustomer(invoiceReference, msisdn);
    if (invoice.customer !== msisdn) {
      invoice.customer = msisdn;
      this.hooks.changed?.(invoice);
    }
    return invoice;
  }

  // ---- reading ---------------------------------------------------------------------------------------------------

  get(invoiceReference: string): SandboxInvoice | undefined {
    return this.invoices.get(invoiceReference);
  }

  list(filter: { customer?: string; terminalId?: string } = {}): SandboxInvoice[] {
    return [...this.invoices.values()].filter(
      (invoice) =>
        (filter.customer === undefined || invoice.customer === filter.customer) &&
        (filter.terminalId === undefined || invoice.terminalId === filter.terminalId),
    );
  }

  /** Stops every timer; the sandbox is closing. */
  close(): void {
    for (const timers of this.timers.values()) {
      if (timers.ack) this.clock.clearTimeout(timers.ack);
      if (timers.expiry) this.clock.clearTimeout(timers.expiry);
    }
    this.timers.clear();
  }

  // ---- internals -------------------------------------------------------------------------------------------------

  private own(terminal: SandboxTerminal, invoiceReference: string): SandboxInvoice {
    const invoice = this.invoices.get(invoiceReference);
    if (!invoice || invoice.terminalId !== terminal.id) {
      throw new SeqrFailure(codes.INVALID_INVOICE_REFERENCE, `no invoice ${invoiceReference} on this terminal`);
    }
    return invoice;
  }

  private forCustomer(invoiceReference: string, msisdn: string): SandboxInvoice {
    const invoice = this.invoices.get(invoiceReference);
    if (!invoice) throw new SeqrFailure(codes.INVALID_INVOICE_REFERENCE, `no invoice ${invoiceReference}`);
    if (invoice.customer !== undefined && invoice.customer !== msisdn) {
      throw new SeqrFailure(codes.INVALID_CUSTOMER, "another customer has this invoice");
    }
    return invoice;
  }

  private checkInvoice(
    terminal: SandboxTerminal,
    input: InvoiceInput,
    rules: { requireAll: boolean },
  ): { paymentMode: string | undefined; title: string; clientInvoiceId: string; cashierId: string; total: Money } {
    const missing = (name: string): never => {
      throw new SeqrFailure(codes.INVALID_INVOICE_DATA, `${name} is required`);
    };
    if (rules.requireAll) {
      if (input.paymentMode === undefined) missing("paymentMode");
      if (!input.title) missing("title");
      if (!input.clientInvoiceId) missing("clientInvoiceId");
      if (!input.cashierId) missing("cashierId");
    }
    if (input.paymentMode !== undefined && !(paymentModes as readonly string[]).includes(input.paymentMode)) {
      throw new SeqrFailure(codes.INVALID_INVOICE_DATA, `unknown paymentMode ${input.paymentMode}`);
    }
    const total = input.total ?? missing("totalAmount");
    if (total.currency !== terminal.currency) {
      throw new SeqrFailure(
        codes.INVALID_INVOICE_DATA,
        `currency ${total.currency}; this terminal takes ${terminal.currency}`,
      );
    }
    if (total.minor <= 0) throw new SeqrFailure(codes.REJECTED_AMOUNT, "totalAmount must be above zero");
    if (input.rows.length > 0) {
      let sum = 0;
      for (const row of input.rows) {
        if (row.total.currency !== total.currency) {
          throw new SeqrFailure(codes.INVALID_INVOICE_DATA, `row "${row.description}" is in ${row.total.currency}`);
        }
        if (!(row.quantity >= 1)) {
          throw new SeqrFailure(codes.INVALID_INVOICE_DATA, `row "${row.description}" has quantity ${row.quantity}`);
        }
        sum += row.total.minor;
      }
      if (sum !== total.minor) {
        throw new SeqrFailure(
          codes.INVALID_INVOICE_DATA,
          `totalAmount ${total.minor} is not the sum of the rows ${sum}`,
        );
      }
    }
    const timeout = input.commitReservationTimeoutSeconds;
    if (timeout !== undefined && !(Number.isSafeInteger(timeout) && timeout > 0)) {
      throw new SeqrFailure(codes.INVALID_INVOICE_DATA, `commitReservationTimeout ${timeout} is not positive`);
    }
    this.checkNotificationUrl(input.notificationUrl);
    return {
      paymentMode: input.paymentMode,
      title: input.title ?? "",
      clientInvoiceId: input.clientInvoiceId ?? "",
      cashierId: input.cashierId ?? "",
      total,
    };
  }

  private checkNotificationUrl(url: string | undefined): void {
    if (url === undefined) return;
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    const allowed = this.settings.requireHttpsNotificationUrl ? ["https:"] : ["http:", "https:"];
    if (!parsed || !allowed.includes(parsed.protocol) || !/^https?:\/\//i.test(url)) {
      throw new SeqrFailure(
        codes.INVALID_NOTIFICATION_URL,
        `notificationUrl ${JSON.stringify(url)} is not a valid URL`,
      );
    }
  }

  private pay(invoice: SandboxInvoice, amount: Money, event: string): void {
    invoice.paid = { ...amount };
    invoice.ersReference = this.newErsReference();
    invoice.paymentDate = new Date(this.clock.now()).toISOString();
    this.byErsReference.set(invoice.ersReference, invoice);
    this.periods.recordPayment(settlement(invoice, invoice.ersReference, amount));
    this.clearTimer(invoice.invoiceReference, "expiry");
    if (event === "commitReservation") {
      // The reseller evidently knows the outcome; a commit also ends the wait for the status fetch.
      invoice.awaitingStatusFetch = false;
      this.clearTimer(invoice.invoiceReference, "ack");
    }
    this.transition(invoice, "PAID", event);
  }

  private transition(invoice: SandboxInvoice, status: InvoiceStatus, event: string): void {
    invoice.status = status;
    if (status === "CANCELED" || status === "EXPIRED") {
      invoice.reserved = undefined;
      if (invoice.paid && invoice.ersReference) {
        // A reversed immediate payment gives the money back: no payment remains to refund.
        this.byErsReference.delete(invoice.ersReference);
        this.periods.withdrawPayment(invoice.ersReference);
        invoice.paid = undefined;
        invoice.ersReference = undefined;
      }
      this.clearTimer(invoice.invoiceReference, "ack");
      this.clearTimer(invoice.invoiceReference, "expiry");
    }
    this.bump(invoice, event);
  }

  private bump(invoice: SandboxInvoice, event: string): void {
    invoice.version += 1;
    invoice.history.push({ at: this.clock.now(), status: invoice.status, version: invoice.version, event });
    this.hooks.changed?.(invoice);
  }

  private notifyIf(invoice: SandboxInvoice, trigger: NotificationTrigger): void {
    if (invoice.notificationUrl && this.settings.notifyOn.includes(trigger)) this.hooks.notify(invoice, trigger);
  }

  private setTimer(invoiceReference: string, kind: keyof Timers, ms: number, callback: () => void): void {
    this.clearTimer(invoiceReference, kind);
    const handle = this.clock.setTimeout(() => {
      const timers = this.timers.get(invoiceReference);
      if (timers) delete timers[kind];
      callback();
    }, ms);
    handle.unref?.();
    const timers = this.timers.get(invoiceReference) ?? {};
    timers[kind] = handle;
    this.timers.set(invoiceReference, timers);
  }

  private clearTimer(invoiceReference: string, kind: keyof Timers): void {
    const timers = this.timers.get(invoiceReference);
    const handle = timers?.[kind];
    if (!timers || !handle) return;
    this.clock.clearTimeout(handle);
    delete timers[kind];
    if (!timers.ack && !timers.expiry) this.timers.delete(invoiceReference);
  }

  /** 13 digits like SEQR's `1397240460668`: the clock's milliseconds, strictly increasing. */
  private newInvoiceReference(): string {
    this.lastInvoiceReference = Math.max(this.clock.now(), this.lastInvoiceReference + 1);
    return String(this.lastInvoiceReference);
  }

  /** 25 digits like `2015102910184861801032678`: UTC yyyyMMddHHmmssSSS and an 8-digit sequence. */
  private newErsReference(): string {
    this.referenceSequence = (this.referenceSequence + 1) % 100_000_000;
    const stamp = new Date(this.clock.now()).toISOString().replace(/\D/g, "").slice(0, 17);
    return `${stamp}${String(this.referenceSequence).padStart(8, "0")}`;
  }
}

/** One line of the settlement book for a payment or refund of `invoice`. */
function settlement(invoice: SandboxInvoice, ersReference: string, amount: Money) {
  return {
    ersReference,
    invoiceReference: invoice.invoiceReference,
    clientInvoiceId: invoice.clientInvoiceId,
    terminalId: invoice.terminalId,
    amountMinor: amount.minor,
    currency: amount.currency,
  };
}

/** Why the app cannot confirm this invoice now, or undefined when it can. */
export function confirmBlocker(invoice: SandboxInvoice): string | undefined {
  if (invoice.status !== "ISSUED") return `the invoice is ${invoice.status}`;
  if (invoice.acknowledgmentMode !== "NO_ACKNOWLEDGMENT") {
    // cashregister-2 behaviour (FAQ): without NO_ACKNOWLEDGMENT the app stays on "waiting for amount".
    return "the app is waiting for the amount (the invoice was not sent with acknowledgmentMode NO_ACKNOWLEDGMENT)";
  }
  return undefined;
}
