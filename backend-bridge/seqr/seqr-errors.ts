import { type SeqrResultName, seqrResultName, transientResultCodes } from "./result-codes.ts";

/**
 * Everything a SEQR call can fail with, one class per kind, so that the bridge decides by type (retry, give up,
 * check the status first) and never by parsing a message. No error carries the request: it holds the password.
 */

/** Every SEQR merchant API operation (the methods of SeqrApi), in the API document's order. */
export const seqrOperations = [
  "sendInvoice",
  "updateInvoice",
  "getPaymentStatus",
  "commitReservation",
  "cancelInvoice",
  "refundPayment",
  "submitPaymentReceipt",
  "markTransactionPeriod",
  "executeReport",
] as const;

export type SeqrOperation = (typeof seqrOperations)[number];

export abstract class SeqrError extends Error {
  readonly operation: SeqrOperation;
  /** The ClientContext's clientReference of the failed call, to find it in SEQR's support logs. */
  readonly clientReference: string | undefined;
  abstract readonly kind: "result" | "fault" | "http" | "malformed" | "timeout" | "transport" | "invalid-request";

  constructor(operation: SeqrOperation, message: string, clientReference?: string, options?: ErrorOptions) {
    super(`SEQR ${operation}: ${message}`, options);
    this.name = new.target.name;
    this.operation = operation;
    this.clientReference = clientReference;
  }

  /**
   * Whether SEQR may not have acted on the call: after a timeout or a lost connection a commitReservation may have
   * gone through, so the caller must check getPaymentStatus before repeating it (seqr-protocol.md §4).
   */
  get outcomeUnknown(): boolean {
    return false;
  }
}

/** SEQR answered with a `resultCode` other than 0 (HTTP 200, a business error). */
export class SeqrResultError extends SeqrError {
  readonly kind = "result";
  readonly resultCode: number;
  readonly resultName: SeqrResultName | `UNKNOWN_${number}`;
  readonly resultDescription: string | undefined;

  constructor(
    operation: SeqrOperation,
    resultCode: number,
    resultDescription: string | undefined,
    clientReference?: string,
  ) {
    const resultName = seqrResultName(resultCode);
    const detail = resultDescription && resultDescription !== resultName ? ` (${resultDescription})` : "";
    super(operation, `resultCode ${resultCode} ${resultName}${detail}`, clientReference);
    this.resultCode = resultCode;
    this.resultName = resultName;
    this.resultDescription = resultDescription;
  }

  /** Codes that say "try again later" rather than "this request is wrong". */
  get transient(): boolean {
    return transientResultCodes.has(this.resultCode);
  }
}

/** A SOAP 1.1 Fault: SEQR could not process the envelope at all (malformed, unknown operation, server crash). */
export class SeqrFaultError extends SeqrError {
  readonly kind = "fault";
  readonly faultCode: string;
  readonly faultString: string;
  readonly httpStatus: number;

  constructor(
    operation: SeqrOperation,
    fault: { faultCode: string; faultString: string },
    httpStatus: number,
    clientReference?: string,
  ) {
    super(operation, `SOAP Fault ${fault.faultCode}: ${fault.faultString}`, clientReference);
    this.faultCode = fault.faultCode;
    this.faultString = fault.faultString;
    this.httpStatus = httpStatus;
  }

  /** A Server fault may have happened after SEQR acted; a Client fault means the request was refused as sent. */
  override get outcomeUnknown(): boolean {
    return !/(^|:)Client$/.test(this.faultCode);
  }
}

/** An HTTP status other than 200 without a SOAP Fault in the body (proxy error page, 404, 503). */
export class SeqrHttpError extends SeqrError {
  readonly kind = "http";
  readonly status: number;

  constructor(operation: SeqrOperation, status: number, clientReference?: string) {
    super(operation, `HTTP ${status}`, clientReference);
    this.status = status;
  }

  override get outcomeUnknown(): boolean {
    return this.status >= 500;
  }
}

/** The body is not a SOAP envelope with the expected response: garbage, truncated, too large, wrong element. */
export class SeqrMalformedResponseError extends SeqrError {
  readonly kind = "malformed";
  /** The first characters of the body, for the log (responses never carry the password). */
  readonly excerpt: string;

  constructor(operation: SeqrOperation, reason: string, excerpt: string, clientReference?: string) {
    super(operation, `malformed response: ${reason}`, clientReference);
    this.excerpt = excerpt;
  }

  override get outcomeUnknown(): boolean {
    return true;
  }
}

/** No complete answer within the call's timeout. */
export class SeqrTimeoutError extends SeqrError {
  readonly kind = "timeout";
  readonly timeoutMs: number;

  constructor(operation: SeqrOperation, timeoutMs: number, clientReference?: string) {
    super(operation, `no answer within ${timeoutMs} ms`, clientReference);
    this.timeoutMs = timeoutMs;
  }

  override get outcomeUnknown(): boolean {
    return true;
  }
}

/** The connection failed (refused, reset, DNS, TLS) before an HTTP answer arrived. */
export class SeqrTransportError extends SeqrError {
  readonly kind = "transport";

  constructor(operation: SeqrOperation, cause: unknown, clientReference?: string) {
    super(operation, `connection failed: ${describeCause(cause)}`, clientReference, { cause });
  }

  override get outcomeUnknown(): boolean {
    return true;
  }
}

/** The client refused to send the call: the arguments break a rule (money as floats, commit above the reservation). */
export class SeqrInvalidRequestError extends SeqrError {
  readonly kind = "invalid-request";
}

function describeCause(cause: unknown): string {
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    const inner = cause.cause instanceof Error ? cause.cause : undefined;
    const innerCode = inner ? (inner as NodeJS.ErrnoException).code : undefined;
    return [code ?? innerCode, inner?.message ?? cause.message].filter(Boolean).join(" ");
  }
  return String(cause);
}
