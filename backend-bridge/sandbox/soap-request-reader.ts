import { isSupportedCurrency, parseDecimalToMinor } from "../../platform/money.ts";
import { seqrResultCodes } from "../seqr/result-codes.ts";
import type { Money } from "../seqr/seqr-api.ts";
import { type SeqrOperation, seqrOperations } from "../seqr/seqr-errors.ts";
import { childElement, childElements, childText, type XmlElement } from "../seqr/xml-document.ts";
import { type InvoiceInput, type LedgerRow, SeqrFailure } from "./invoice-ledger.ts";

/**
 * A SEQR request wrapper element read the way CXF/JAXB reads it: children by local name in any order (the API doc's
 * own examples are out of order), unknown children ignored. What JAXB cannot unmarshal (a missing context, a
 * non-number where the schema says xs:long/xs:int) becomes a soap:Client fault; bad business data becomes code 49.
 */

/** The request cannot be unmarshalled: answered with a SOAP Fault (soap:Client), HTTP 500. */
export class UnmarshalError extends Error {}

export interface RequestContext {
  channel: string | undefined;
  clientId: string | undefined;
  clientReference: string | undefined;
  principal: { id: string; type: string; userId: string | undefined };
  password: string;
}

export type SandboxRequest =
  | { operation: "sendInvoice"; context: RequestContext; invoice: InvoiceInput }
  | { operation: "updateInvoice"; context: RequestContext; invoiceReference: string; invoice: InvoiceInput }
  | { operation: "getPaymentStatus"; context: RequestContext; invoiceReference: string; invoiceVersion: number }
  | { operation: "commitReservation"; context: RequestContext; invoiceReference: string; amount: Money | undefined }
  | { operation: "cancelInvoice"; context: RequestContext; invoiceReference: string }
  | { operation: "refundPayment"; context: RequestContext; ersReference: string; invoice: InvoiceInput }
  | {
      operation: "submitPaymentReceipt";
      context: RequestContext;
      ersReference: string;
      receipt: { mimeType: string; receiptType: string; bytes: number };
    }
  | { operation: "markTransactionPeriod"; context: RequestContext; parameters: Record<string, string> }
  | { operation: "executeReport"; context: RequestContext; reportId: string; parameters: Record<string, string> };

export function isSandboxOperation(name: string): name is SeqrOperation {
  return (seqrOperations as readonly string[]).includes(name);
}

export function readRequest(operation: SeqrOperation, wrapper: XmlElement): SandboxRequest {
  const context = readContext(wrapper);
  switch (operation) {
    case "sendInvoice":
      return { operation, context, invoice: readInvoice(requiredChild(wrapper, "invoice", 49)) };
    case "updateInvoice":
      return {
        operation,
        context,
        invoiceReference: referenceOf(wrapper, "invoiceReference"),
        invoice: readInvoice(requiredChild(wrapper, "invoice", 49)),
      };
    case "getPaymentStatus":
      return {
        operation,
        context,
        invoiceReference: referenceOf(wrapper, "invoiceReference"),
        invoiceVersion: schemaInteger(childText(wrapper, "invoiceVersion") ?? "0", "invoiceVersion"),
      };
    case "commitReservation": {
      const amount = childElement(wrapper, "amount");
      return {
        operation,
        context,
        invoiceReference: referenceOf(wrapper, "invoiceReference"),
        amount: amount ? readAmount(amount, "amount") : undefined,
      };
    }
    case "cancelInvoice":
      return { operation, context, invoiceReference: referenceOf(wrapper, "invoiceReference") };
    case "refundPayment":
      return {
        operation,
        context,
        ersReference: referenceOf(wrapper, "ersReference"),
        invoice: readInvoice(requiredChild(wrapper, "invoice", 49)),
      };
    case "submitPaymentReceipt": {
      const document = requiredChild(wrapper, "receiptDocument", 49);
      const data = childText(document, "receiptData") ?? "";
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(data) || data.length % 4 !== 0) {
        throw new UnmarshalError("receiptData is not base64Binary");
      }
      return {
        operation,
        context,
        ersReference: referenceOf(wrapper, "ersReference"),
        receipt: {
          mimeType: childText(document, "mimeType") ?? "",
          receiptType: childText(document, "receiptType") ?? "",
          bytes: Buffer.from(data, "base64").length,
        },
      };
    }
    case "markTransactionPeriod":
      return { operation, context, parameters: readParameters(wrapper) };
    case "executeReport":
      return {
        operation,
        context,
        reportId: childText(wrapper, "reportId") ?? "",
        parameters: readParameters(wrapper),
      };
  }
}

/** parameterMap: `<parameters><parameter><entry><key/><value/></entry>...`, as a plain record. */
function readParameters(wrapper: XmlElement): Record<string, string> {
  const parameters: Record<string, string> = {};
  const map = childElement(wrapper, "parameters");
  for (const parameter of map ? childElements(map, "parameter") : []) {
    for (const entry of childElements(parameter, "entry")) {
      const key = childText(entry, "key");
      if (key) parameters[key] = childText(entry, "value") ?? "";
    }
  }
  return parameters;
}

export function readContext(wrapper: XmlElement): RequestContext {
  const context = childElement(wrapper, "context");
  if (!context) throw new UnmarshalError("the request has no <context> (ClientContext)");
  const timeout = childText(context, "clientRequestTimeout");
  if (timeout === undefined) throw new UnmarshalError("clientRequestTimeout is required (xs:long)");
  schemaInteger(timeout, "clientRequestTimeout");
  const principal = childElement(context, "initiatorPrincipalId");
  return {
    channel: childText(context, "channel"),
    clientId: childText(context, "clientId"),
    clientReference: childText(context, "clientReference"),
    principal: {
      id: principal ? (childText(principal, "id") ?? "") : "",
      type: principal ? (childText(principal, "type") ?? "") : "",
      userId: principal ? childText(principal, "userId") : undefined,
    },
    password: childText(context, "password") ?? "",
  };
}

function readInvoice(element: XmlElement): InvoiceInput {
  const rowsElement = childElement(element, "invoiceRows");
  const rows: LedgerRow[] = (rowsElement ? childElements(rowsElement, "invoiceRow") : []).map((row, index) => {
    const total = childElement(row, "itemTotalAmount");
    if (!total) throw new SeqrFailure(seqrResultCodes.INVALID_INVOICE_DATA, `row ${index + 1} has no itemTotalAmount`);
    const quantityText = childText(row, "itemQuantity");
    if (quantityText === undefined || !/^\d+(\.\d+)?$/.test(quantityText)) {
      throw new SeqrFailure(seqrResultCodes.INVALID_INVOICE_DATA, `row ${index + 1} has no valid itemQuantity`);
    }
    const unitPrice = childElement(row, "itemUnitPrice");
    const sku = childText(row, "itemSKU");
    return {
      description: childText(row, "itemDescription") ?? "",
      quantity: Number(quantityText),
      ...(sku ? { sku } : {}),
      ...(unitPrice ? { unitPrice: readAmount(unitPrice, "itemUnitPrice") } : {}),
      total: readAmount(total, `row ${index + 1} itemTotalAmount`, { allowNegative: true }),
    };
  });
  const total = childElement(element, "totalAmount");
  const timeout = childText(element, "commitReservationTimeout");
  return {
    paymentMode: childText(element, "paymentMode"),
    acknowledgmentMode: childText(element, "acknowledgmentMode"),
    issueDate: childText(element, "issueDate"),
    title: childText(element, "title"),
    clientInvoiceId: childText(element, "clientInvoiceId"),
    rows,
    total: total ? readAmount(total, "totalAmount") : undefined,
    cashierId: childText(element, "cashierId"),
    footer: childText(element, "footer"),
    notificationUrl: childText(element, "notificationUrl"),
    commitReservationTimeoutSeconds:
      timeout === undefined ? undefined : schemaInteger(timeout, "commitReservationTimeout"),
  };
}

function readAmount(element: XmlElement, field: string, options: { allowNegative?: boolean } = {}): Money {
  const currency = childText(element, "currency") ?? "";
  const value = childText(element, "value");
  if (!isSupportedCurrency(currency)) {
    throw new SeqrFailure(
      seqrResultCodes.INVALID_INVOICE_DATA,
      `${field}: unsupported currency ${JSON.stringify(currency)}`,
    );
  }
  if (value === undefined) throw new SeqrFailure(seqrResultCodes.INVALID_INVOICE_DATA, `${field}: no value`);
  try {
    return { minor: parseDecimalToMinor(value, currency, { allowNegative: options.allowNegative ?? true }), currency };
  } catch (error) {
    throw new SeqrFailure(seqrResultCodes.INVALID_INVOICE_DATA, `${field}: ${(error as Error).message}`);
  }
}

function requiredChild(parent: XmlElement, name: string, code: number): XmlElement {
  const child = childElement(parent, name);
  if (!child) throw new SeqrFailure(code, `<${name}> is required`);
  return child;
}

function referenceOf(wrapper: XmlElement, name: string): string {
  return childText(wrapper, name) ?? "";
}

/** xs:long / xs:int as JAXB reads them: a non-number is an unmarshalling error, not business data. */
function schemaInteger(text: string, field: string): number {
  if (!/^[+-]?\d{1,18}$/.test(text))
    throw new UnmarshalError(`${field} ${JSON.stringify(text.slice(0, 40))} is not an integer`);
  return Number(text);
}
