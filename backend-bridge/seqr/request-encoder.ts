import { formatMinor, isSupportedCurrency } from "../../platform/money.ts";
import type { Invoice, InvoiceRow, Money } from "./seqr-api.ts";
import { SeqrInvalidRequestError, type SeqrOperation } from "./seqr-errors.ts";
import { buildSoapEnvelope } from "./soap-envelope.ts";
import type { XmlObject } from "./xml-document.ts";

/**
 * The typed SEQR calls as request envelopes, every element in WSDL sequence order (seqr-protocol.md §5-§7), money
 * as `#.##` by the currency's exponent. Arguments that would break a money rule are refused here, before sending.
 */

export type Principal = { type: "TERMINALID"; id: string } | { type: "RESELLERUSER"; id: string; userId: string };

export interface ClientContext {
  channel: string;
  clientComment?: string;
  clientId: string;
  /** Unique per call, at most 32 characters. */
  clientReference: string;
  principal: Principal;
  password: string;
}

export type SeqrRequest =
  | { operation: "sendInvoice"; invoice: Invoice; issueDate: string }
  | { operation: "updateInvoice"; invoiceReference: string; invoice: Invoice; issueDate: string }
  | { operation: "getPaymentStatus"; invoiceReference: string; invoiceVersion: number }
  | { operation: "commitReservation"; invoiceReference: string; amount: Money }
  | { operation: "cancelInvoice"; invoiceReference: string }
  | { operation: "refundPayment"; ersReference: string; invoice: Invoice; issueDate: string }
  | {
      operation: "submitPaymentReceipt";
      ersReference: string;
      receipt: { mimeType: string; data: Buffer; type: string };
    }
  | { operation: "markTransactionPeriod"; parameters?: Record<string, string> }
  | { operation: "executeReport"; reportId: string; parameters?: Record<string, string> };

export function encodeRequest(request: SeqrRequest, context: ClientContext, namespace?: string): string {
  const children = { context: encodeContext(context, request.operation), ...encodeArguments(request) };
  return buildSoapEnvelope(request.operation, children, namespace === undefined ? {} : { namespace });
}

function encodeContext(context: ClientContext, operation: SeqrOperation): XmlObject {
  if (context.clientReference.length > 32) invalid(operation, "clientReference is longer than 32 characters");
  const { principal } = context;
  return {
    channel: text(operation, "channel", context.channel),
    clientComment:
      context.clientComment === undefined ? undefined : text(operation, "clientComment", context.clientComment),
    clientId: text(operation, "clientId", context.clientId),
    clientReference: text(operation, "clientReference", context.clientReference),
    // Always 0 (JD: milliseconds; 0 = the server's default). Schema-required.
    clientRequestTimeout: "0",
    initiatorPrincipalId: {
      id: text(operation, "principal id", principal.id),
      type: principal.type,
      userId: principal.type === "RESELLERUSER" ? text(operation, "userId", principal.userId) : undefined,
    },
    password: text(operation, "password", context.password),
  };
}

function encodeArguments(request: SeqrRequest): XmlObject {
  const { operation } = request;
  switch (request.operation) {
    case "sendInvoice":
      return { invoice: encodeInvoice(operation, request.invoice, request.issueDate) };
    case "updateInvoice":
      return {
        invoiceReference: reference(operation, "invoiceReference", request.invoiceReference),
        invoice: encodeInvoice(operation, request.invoice, request.issueDate),
      };
    case "getPaymentStatus":
      if (!Number.isSafeInteger(request.invoiceVersion) || request.invoiceVersion < 0) {
        invalid(operation, `invoiceVersion ${request.invoiceVersion} is not a non-negative integer`);
      }
      return {
        invoiceReference: reference(operation, "invoiceReference", request.invoiceReference),
        invoiceVersion: String(request.invoiceVersion),
      };
    case "commitReservation":
      return {
        amount: encodeAmount(operation, "amount", request.amount, { allowZero: true }),
        invoiceReference: reference(operation, "invoiceReference", request.invoiceReference),
      };
    case "cancelInvoice":
      return { invoiceReference: reference(operation, "invoiceReference", request.invoiceReference) };
    case "refundPayment":
      return {
        ersReference: reference(operation, "ersReference", request.ersReference),
        invoice: encodeInvoice(operation, request.invoice, request.issueDate),
      };
    case "submitPaymentReceipt":
      return {
        ersReference: reference(operation, "ersReference", request.ersReference),
        receiptDocument: {
          mimeType: text(operation, "mimeType", request.receipt.mimeType),
          receiptData: request.receipt.data.toString("base64"),
          receiptType: text(operation, "receiptType", request.receipt.type),
        },
      };
    case "markTransactionPeriod":
      return encodeParameters(operation, request.parameters);
    case "executeReport":
      // WSDL order: context, reportId, language, parameters (no language: SEQR's default).
      return {
        reportId: text(operation, "reportId", request.reportId),
        ...encodeParameters(operation, request.parameters),
      };
  }
}

/** parameterMap: `<parameters><parameter><entry><key/><value/></entry>...` (seqr-protocol.md §6); absent when empty. */
function encodeParameters(operation: SeqrOperation, parameters: Record<string, string> | undefined): XmlObject {
  const entries = Object.entries(parameters ?? {});
  if (entries.length === 0) return {};
  return {
    parameters: {
      parameter: {
        entry: entries.map(([key, value]) => ({
          key: text(operation, "parameter key", key),
          value: text(operation, "parameter value", value, { allowEmpty: true }),
        })),
      },
    },
  };
}

function encodeInvoice(operation: SeqrOperation, invoice: Invoice, issueDate: string): XmlObject {
  const currency = invoice.total?.currency;
  const totalAmount = encodeAmount(operation, "totalAmount", invoice.total, { allowZero: true });
  if (invoice.rows.length > 0) {
    let sum = 0;
    for (const row of invoice.rows) {
      if (row.total.currency !== currency) {
        invalid(operation, `row "${row.description}" is in ${row.total.currency}, the invoice in ${currency}`);
      }
      sum += row.total.minor;
    }
    if (sum !== invoice.total.minor) {
      invalid(operation, `totalAmount ${invoice.total.minor} is not the sum of the rows (${sum}) in minor units`);
    }
  }
  const timeout = invoice.commitReservationTimeoutSeconds;
  if (timeout !== undefined && (!Number.isSafeInteger(timeout) || timeout <= 0)) {
    invalid(operation, `commitReservationTimeout ${timeout} is not a positive whole number of seconds`);
  }
  return {
    paymentMode: invoice.paymentMode,
    // Always: without it cashregister-2 leaves the app on "waiting for amount" (seqr-protocol.md §4, FAQ).
    acknowledgmentMode: "NO_ACKNOWLEDGMENT",
    issueDate: invoice.issueDate ?? issueDate,
    title: text(operation, "title", invoice.title),
    clientInvoiceId: text(operation, "clientInvoiceId", invoice.clientInvoiceId),
    invoiceRows:
      invoice.rows.length === 0 ? undefined : { invoiceRow: invoice.rows.map((row) => encodeRow(operation, row)) },
    totalAmount,
    cashierId: text(operation, "cashierId", invoice.cashierId),
    footer: invoice.footer === undefined ? undefined : text(operation, "footer", invoice.footer, { allowEmpty: true }),
    notificationUrl:
      invoice.notificationUrl === undefined ? undefined : text(operation, "notificationUrl", invoice.notificationUrl),
    commitReservationTimeout: timeout === undefined ? undefined : String(timeout),
  };
}

function encodeRow(operation: SeqrOperation, row: InvoiceRow): XmlObject {
  if (!Number.isSafeInteger(row.quantity) || row.quantity < 1) {
    invalid(operation, `row "${row.description}" has quantity ${row.quantity}; a whole number >= 1 is required`);
  }
  // WSDL order: itemDescription, itemDiscount, itemEAN, itemQuantity, itemSKU, itemTaxRate, itemTotalAmount,
  // itemUnit, itemUnitPrice. Negative row totals are allowed (balancing rows, seqr-protocol.md §6).
  return {
    itemDescription: text(operation, "itemDescription", row.description),
    itemQuantity: String(row.quantity),
    itemSKU: row.sku === undefined ? undefined : text(operation, "itemSKU", row.sku),
    itemTotalAmount: encodeAmount(operation, "itemTotalAmount", row.total, { allowNegative: true }),
    itemUnitPrice: row.unitPrice === undefined ? undefined : encodeAmount(operation, "itemUnitPrice", row.unitPrice),
  };
}

function encodeAmount(
  operation: SeqrOperation,
  field: string,
  money: Money,
  rules: { allowZero?: boolean; allowNegative?: boolean } = {},
): XmlObject {
  if (typeof money?.minor !== "number" || !Number.isSafeInteger(money.minor)) {
    invalid(operation, `${field} ${String(money?.minor)} is not an integer number of minor units`);
  }
  if (money.minor < 0 && !rules.allowNegative) invalid(operation, `${field} ${money.minor} is negative`);
  if (money.minor === 0 && !rules.allowZero && !rules.allowNegative) invalid(operation, `${field} is zero`);
  if (typeof money.currency !== "string" || !isSupportedCurrency(money.currency)) {
    invalid(operation, `${field} has an unsupported currency ${JSON.stringify(money.currency)}`);
  }
  return { currency: money.currency, value: formatMinor(money.minor, money.currency) };
}

/** Whether the text holds a character XML 1.0 cannot carry at all (the builder would emit a broken document). */
function hasXmlIllegalCharacter(value: string): boolean {
  for (let index = 0; index < value.length; index++) {
    const code = value.charCodeAt(index);
    if ((code < 0x20 && code !== 0x9 && code !== 0xa && code !== 0xd) || code === 0xfffe || code === 0xffff)
      return true;
  }
  return false;
}

function text(operation: SeqrOperation, field: string, value: string, options: { allowEmpty?: boolean } = {}): string {
  if (typeof value !== "string") invalid(operation, `${field} is not a string`);
  if (!options.allowEmpty && value.trim() === "") invalid(operation, `${field} is empty`);
  // The message names the field only: the value may be the password.
  if (hasXmlIllegalCharacter(value)) invalid(operation, `${field} holds a character XML cannot carry`);
  return value;
}

function reference(operation: SeqrOperation, field: string, value: string): string {
  if (typeof value !== "string" || !/^[0-9A-Za-z._-]{1,64}$/.test(value)) {
    invalid(operation, `${field} ${JSON.stringify(String(value).slice(0, 70))} is not a SEQR reference`);
  }
  return value;
}

function invalid(operation: SeqrOperation, message: string): never {
  throw new SeqrInvalidRequestError(operation, message);
}
