import { displayAmount, formatMinor } from "../../platform/money.ts";
import type { Money } from "../seqr/seqr-api.ts";
import { type ScanProblem, scanProblem } from "./customer-app-words.ts";
import { confirmBlocker, type InvoiceLedger, type SandboxInvoice, SeqrFailure } from "./invoice-ledger.ts";
import type { SandboxOptions } from "./sandbox-options.ts";
import { type UpsCaller, type UpsOutcome, UpsScanError } from "./ups-caller.ts";

/**
 * The SEQR app of a customer, phone number + PIN: list my invoices, see rows and total change while the reseller
 * updates them, confirm with the PIN or decline, scan a code. Used by tests directly and by the page under /app/.
 */

export interface InvoiceView {
  invoiceReference: string;
  status: string;
  version: number;
  merchant: string;
  title: string;
  cashierId: string;
  rows: { description: string; quantity: number; amount: string; minor: number }[];
  total: { minor: number; currency: string; text: string };
  reserved?: { minor: number; text: string };
  paid?: { minor: number; text: string };
  refunded?: { minor: number; text: string };
  canConfirm: boolean;
  canCancel: boolean;
  /** Why confirming is not possible now (status, acknowledgment mode). */
  blocker?: string;
  createdAt: string;
}

export class CustomerAppError extends Error {
  readonly code: "UNKNOWN_CUSTOMER" | "WRONG_PIN" | "NOT_FOUND" | "NOT_ALLOWED" | "BAD_SCAN";
  readonly httpStatus: number;
  constructor(code: CustomerAppError["code"], message: string, httpStatus: number) {
    super(message);
    this.code = code;
    this.httpStatus = httpStatus;
  }
}

export type ScanResult =
  | { kind: "ups"; outcome: UpsOutcome; problem?: ScanProblem }
  | { kind: "invoice"; invoice: InvoiceView };

/** The last scan of a machine code that did not start a payment, for the phone to show until the next scan. */
export interface LastScanProblem extends ScanProblem {
  at: string;
}

type AppSettings = Pick<SandboxOptions, "customers" | "defaultPin" | "terminals">;

export class CustomerApp {
  private readonly settings: AppSettings;
  private readonly ledger: InvoiceLedger;
  private readonly ups: UpsCaller;
  private readonly lastProblems = new Map<string, LastScanProblem>();

  constructor(settings: AppSettings, ledger: InvoiceLedger, ups: UpsCaller) {
    this.settings = settings;
    this.ledger = ledger;
    this.ups = ups;
  }

  invoices(msisdn: string): InvoiceView[] {
    this.pinOf(msisdn);
    return this.ledger
      .list({ customer: msisdn })
      .sort((a, b) => b.createdAt - a.createdAt)
      .map((invoice) => this.view(invoice));
  }

  invoice(invoiceReference: string): InvoiceView {
    const invoice = this.ledger.get(invoiceReference);
    if (!invoice) throw new CustomerAppError("NOT_FOUND", `no invoice ${invoiceReference}`, 404);
    return this.view(invoice);
  }

  confirm(invoiceReference: string, customer: { msisdn: string; pin: string }): InvoiceView {
    if (this.pinOf(customer.msisdn) !== customer.pin) throw new CustomerAppError("WRONG_PIN", "wrong PIN", 403);
    return this.view(this.guard(() => this.ledger.confirm(invoiceReference, customer.msisdn)));
  }

  cancel(invoiceReference: string, customer: { msisdn: string }): InvoiceView {
    this.pinOf(customer.msisdn);
    return this.view(this.guard(() => this.ledger.cancelByCustomer(invoiceReference, customer.msisdn)));
  }

  /** A scanned code: a UPS machine code starts a purchase; an invoice code (HTTP://SEQR.SE/R<ref>) opens it. */
  async scan(scan: { msisdn: string; qr: string; amount?: Money }): Promise<ScanResult> {
    this.pinOf(scan.msisdn);
    const invoiceCode = /^HTTP:\/\/SEQR\.SE\/R(\d{1,20})$/.exec(scan.qr.trim());
    if (invoiceCode) {
      return {
        kind: "invoice",
        invoice: this.view(this.guard(() => this.ledger.attachCustomer(invoiceCode[1]!, scan.msisdn))),
      };
    }
    try {
      const outcome = await this.ups.scan(scan);
      const problem = scanProblem(outcome);
      // Whatever scanned (this phone, or the demo page for it), the phone shows why no payment started.
      if (problem) this.lastProblems.set(scan.msisdn, { ...problem, at: new Date(outcome.at).toISOString() });
      else this.lastProblems.delete(scan.msisdn);
      return { kind: "ups", outcome, ...(problem ? { problem } : {}) };
    } catch (error) {
      if (error instanceof UpsScanError) throw new CustomerAppError("BAD_SCAN", error.message, 400);
      throw error;
    }
  }

  /** Why this customer's last scan of a machine started no payment; undefined once a scan did. */
  lastScanProblem(msisdn: string): LastScanProblem | undefined {
    this.pinOf(msisdn);
    return this.lastProblems.get(msisdn);
  }

  private pinOf(msisdn: string): string {
    const listed = this.settings.customers.find((customer) => customer.msisdn === msisdn);
    if (listed) return listed.pin;
    if (this.settings.defaultPin !== null && /^\d{6,15}$/.test(msisdn)) return this.settings.defaultPin;
    throw new CustomerAppError("UNKNOWN_CUSTOMER", `no SEQR customer ${msisdn}`, 404);
  }

  private guard(action: () => SandboxInvoice): SandboxInvoice {
    try {
      return action();
    } catch (error) {
      if (error instanceof SeqrFailure) {
        const notFound = error.code === 54;
        throw new CustomerAppError(notFound ? "NOT_FOUND" : "NOT_ALLOWED", error.message, notFound ? 404 : 409);
      }
      throw error;
    }
  }

  private view(invoice: SandboxInvoice): InvoiceView {
    const { currency } = invoice.total;
    const text = (money: Money) => ({ minor: money.minor, text: displayAmount(money.minor, money.currency) });
    const refundedMinor = invoice.refunds.reduce((sum, refund) => sum + refund.amount.minor, 0);
    const blocker = confirmBlocker(invoice);
    const merchant = this.settings.terminals.find((terminal) => terminal.id === invoice.terminalId)?.name ?? "";
    return {
      invoiceReference: invoice.invoiceReference,
      status: invoice.status,
      version: invoice.version,
      merchant,
      title: invoice.title,
      cashierId: invoice.cashierId,
      rows: invoice.rows.map((row) => ({
        description: row.description,
        quantity: row.quantity,
        amount: formatMinor(row.total.minor, row.total.currency),
        minor: row.total.minor,
      })),
      total: { minor: invoice.total.minor, currency, text: displayAmount(invoice.total.minor, currency) },
      ...(invoice.reserved ? { reserved: text(invoice.reserved) } : {}),
      ...(invoice.paid ? { paid: text(invoice.paid) } : {}),
      ...(refundedMinor > 0 ? { refunded: text({ minor: refundedMinor, currency }) } : {}),
      canConfirm: blocker === undefined,
      canCancel: invoice.status === "ISSUED",
      ...(blocker ? { blocker } : {}),
      createdAt: new Date(invoice.createdAt).toISOString(),
    };
  }
}
