import type { InvoiceStatus, PaymentStatus, SeqrReport } from "./seqr-api.ts";
import {
  type SeqrError,
  SeqrFaultError,
  SeqrHttpError,
  SeqrMalformedResponseError,
  type SeqrOperation,
  SeqrResultError,
} from "./seqr-errors.ts";
import { readSoapEnvelope, type SoapMessage, seqrNamespaces } from "./soap-envelope.ts";
import { childElement, childText, type XmlElement } from "./xml-document.ts";

/**
 * An HTTP answer from SEQR as a typed result or exactly one kind of error: a SOAP Fault (whatever the status), an
 * HTTP error (non-200 without a fault), a malformed body (200 with anything but the expected response), or a
 * business error (resultCode != 0). Elements are matched by local name; the wrapper's namespace is checked.
 */

export interface SeqrResults {
  sendInvoice: { invoiceReference: string; invoiceQRCode?: string };
  updateInvoice: Record<string, never>;
  getPaymentStatus: PaymentStatus;
  commitReservation: { ersReference?: string };
  cancelInvoice: Record<string, never>;
  refundPayment: { ersReference: string };
  submitPaymentReceipt: Record<string, never>;
  markTransactionPeriod: { transactionPeriodId: string };
  executeReport: { report: SeqrReport };
}

export interface ResponseContext {
  httpStatus: number;
  clientReference?: string;
  /** Largest body read, in characters; the transport has already capped the bytes. */
  maxChars: number;
  /** Wrapper namespaces accepted besides the documented ones. */
  namespaces?: readonly string[];
}

export function decodeSeqrResponse<Op extends SeqrOperation>(
  operation: Op,
  body: string,
  context: ResponseContext,
): SeqrResults[Op] {
  const { httpStatus, clientReference } = context;
  let message: SoapMessage;
  try {
    message = readSoapEnvelope(body, { maxChars: context.maxChars });
  } catch (error) {
    if (httpStatus !== 200) throw new SeqrHttpError(operation, httpStatus, clientReference);
    throw malformed(operation, (error as Error).message, body, clientReference);
  }
  if (message.kind === "fault") throw new SeqrFaultError(operation, message.fault, httpStatus, clientReference);
  if (httpStatus !== 200) throw new SeqrHttpError(operation, httpStatus, clientReference);

  const wrapper = message.element;
  const namespaces = [...seqrNamespaces, ...(context.namespaces ?? [])];
  if (wrapper.localName !== `${operation}Response` || !namespaces.includes(wrapper.namespace ?? "")) {
    const found = wrapper.namespace ? `{${wrapper.namespace}}${wrapper.localName}` : wrapper.localName;
    throw malformed(operation, `expected ${operation}Response, found ${found}`, body, clientReference);
  }
  const result = childElement(wrapper, "return");
  if (!result) throw malformed(operation, "no <return> element", body, clientReference);
  const resultCode = integer(childText(result, "resultCode"));
  if (resultCode === undefined) throw malformed(operation, "no integer <resultCode>", body, clientReference);
  if (resultCode !== 0) {
    throw new SeqrResultError(
      operation,
      resultCode,
      childText(result, "resultDescription") || undefined,
      clientReference,
    );
  }
  const fail = (reason: string): SeqrError => malformed(operation, reason, body, clientReference);
  return readResult(operation, result, fail) as SeqrResults[Op];
}

function readResult(
  operation: SeqrOperation,
  result: XmlElement,
  fail: (reason: string) => SeqrError,
): SeqrResults[SeqrOperation] {
  const optional = (name: string) => childText(result, name) || undefined;
  const required = (name: string) => {
    const value = optional(name);
    if (value === undefined) throw fail(`no <${name}> in a successful ${operation} response`);
    return value;
  };
  switch (operation) {
    case "sendInvoice": {
      const invoiceQRCode = optional("invoiceQRCode");
      return { invoiceReference: required("invoiceReference"), ...(invoiceQRCode ? { invoiceQRCode } : {}) };
    }
    case "getPaymentStatus":
      return readPaymentStatus(result, fail);
    case "commitReservation": {
      const ersReference = optional("ersReference");
      return ersReference ? { ersReference } : {};
    }
    case "refundPayment":
      return { ersReference: required("ersReference") };
    case "markTransactionPeriod":
      return { transactionPeriodId: required("transactionPeriodId") };
    case "executeReport":
      return { report: readReport(result, fail) };
    case "updateInvoice":
    case "cancelInvoice":
    case "submitPaymentReceipt":
      return {};
  }
}

const knownStatuses: ReadonlySet<string> = new Set<InvoiceStatus>([
  "ISSUED",
  "RESERVED",
  "PAID",
  "CANCELED",
  "FAILED",
  "EXPIRED",
  "PENDING_ISSUER_ACKNOWLEDGE",
]);

/** Wire spelling CANCELED; CANCELLED (the seed's spelling) is read as the same; anything new is UNKNOWN. */
export function normaliseStatus(raw: string | undefined): InvoiceStatus {
  const status = (raw ?? "").trim().toUpperCase();
  if (status === "CANCELLED") return "CANCELED";
  return knownStatuses.has(status) ? (status as InvoiceStatus) : "UNKNOWN";
}

function readPaymentStatus(result: XmlElement, fail: (reason: string) => SeqrError): PaymentStatus {
  const status = childText(result, "status");
  if (status === undefined) throw fail("no <status> in a successful getPaymentStatus response");
  const versionText = childText(result, "version");
  const version = versionText === undefined ? 0 : integer(versionText);
  if (version === undefined) throw fail(`<version> ${JSON.stringify(versionText)} is not an integer`);
  const payment: PaymentStatus = { status: normaliseStatus(status), version };
  const ersReference = childText(result, "ersReference");
  if (ersReference) payment.ersReference = ersReference;
  const receipt = childElement(result, "receipt");
  if (receipt) {
    const fields = {
      paymentReference: childText(receipt, "paymentReference") || undefined,
      paymentDate: childText(receipt, "paymentDate") || undefined,
      invoiceReference: childText(receipt, "invoiceReference") || undefined,
    };
    payment.receipt = Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));
  }
  return payment;
}

/** report{title, mimeType, content(base64), contentString}: the text of contentString, else content decoded. */
function readReport(result: XmlElement, fail: (reason: string) => SeqrError): SeqrReport {
  const report = childElement(result, "report");
  if (!report) throw fail("no <report> in a successful executeReport response");
  const contentString = childText(report, "contentString");
  const base64 = childText(report, "content");
  let content: string;
  if (contentString) content = contentString;
  else if (base64 !== undefined) {
    const compact = base64.replace(/\s+/g, "");
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 !== 0) {
      throw fail("<report><content> is not base64");
    }
    content = Buffer.from(compact, "base64").toString("utf8");
  } else throw fail("<report> has neither <content> nor <contentString>");
  const title = childText(report, "title") || undefined;
  const mimeType = childText(report, "mimeType") || undefined;
  return { ...(title ? { title } : {}), ...(mimeType ? { mimeType } : {}), content };
}

function integer(text: string | undefined): number | undefined {
  if (text === undefined || !/^-?\d{1,15}$/.test(text)) return undefined;
  return Number(text);
}

function malformed(
  operation: SeqrOperation,
  reason: string,
  body: string,
  clientReference: string | undefined,
): SeqrMalformedResponseError {
  return new SeqrMalformedResponseError(operation, reason, body.slice(0, 200), clientReference);
}
