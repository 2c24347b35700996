/**
 * The SEQR merchant API as the bridge uses it: typed calls, integer minor units inside, errors as typed classes.
 * The SOAP client (soap-client.ts) implements it against SEQR or the sandbox; tests may put a fake in its place.
 */

export interface Money {
  /** Integer minor units. */
  minor: number;
  /** ISO 4217. */
  currency: string;
}

export interface InvoiceRow {
  description: string;
  sku?: string;
  quantity: number;
  unitPrice?: Money;
  total: Money;
}

export interface Invoice {
  paymentMode?:
    | "IMMEDIATE_DEBIT"
    | "RESERVATION_DESIRED"
    | "RESERVATION_REQUIRED"
    | "RESERVATION_REQUIRED_PRELIMINARY_AMOUNT";
  /** ISO local date-time without zone, e.g. 2018-05-02T10:00:00; the client fills it when absent. */
  issueDate?: string;
  title: string;
  clientInvoiceId: string;
  rows: InvoiceRow[];
  total: Money;
  cashierId: string;
  footer?: string;
  notificationUrl?: string;
  commitReservationTimeoutSeconds?: number;
}

/** Wire spelling; the client maps CANCELLED to CANCELED and unknown strings to UNKNOWN. */
export type InvoiceStatus =
  | "ISSUED"
  | "RESERVED"
  | "PAID"
  | "CANCELED"
  | "FAILED"
  | "EXPIRED"
  | "PENDING_ISSUER_ACKNOWLEDGE"
  | "UNKNOWN";

export interface PaymentStatus {
  status: InvoiceStatus;
  version: number;
  ersReference?: string;
  receipt?: { paymentReference?: string; paymentDate?: string; invoiceReference?: string };
}

/** executeReport's `report`: the document SEQR made, its content already decoded from base64 (or contentString). */
export interface SeqrReport {
  title?: string;
  mimeType?: string;
  content: string;
}

export interface SeqrApi {
  sendInvoice(invoice: Invoice): Promise<{ invoiceReference: string; invoiceQRCode?: string }>;
  updateInvoice(invoiceReference: string, invoice: Invoice): Promise<void>;
  getPaymentStatus(invoiceReference: string, invoiceVersion: number): Promise<PaymentStatus>;
  /** `amount` must never exceed the reservation; the client refuses to send more. */
  commitReservation(invoiceReference: string, amount: Money): Promise<{ ersReference?: string }>;
  cancelInvoice(invoiceReference: string): Promise<void>;
  refundPayment(ersReference: string, invoice: Invoice): Promise<{ ersReference: string }>;
  submitPaymentReceipt(ersReference: string, receipt: { mimeType: string; data: Buffer; type: string }): Promise<void>;
  /** RESELLERUSER principal: closes SEQR's current transaction period (the day's payments) and names it. */
  markTransactionPeriod(parameters?: Record<string, string>): Promise<{ transactionPeriodId: string }>;
  /** RESELLERUSER principal: runs one of SEQR's reports, e.g. Reconciliation/Shop.xml with a transactionPeriodId. */
  executeReport(reportId: string, parameters?: Record<string, string>): Promise<{ report: SeqrReport }>;
}
