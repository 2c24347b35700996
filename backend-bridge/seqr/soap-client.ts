import { randomUUID } from "node:crypto";
import { type Clock, systemClock } from "../../platform/clock.ts";
import { type Logger, silentLogger } from "../../platform/logger.ts";
import { createHttpTransport, HttpBodyTooLarge, HttpDeadlineExceeded, type SoapTransport } from "./http-transport.ts";
import { seqrIssueDate } from "./issue-date.ts";
import { type ClientContext, encodeRequest, type Principal, type SeqrRequest } from "./request-encoder.ts";
import { decodeSeqrResponse, type SeqrResults } from "./response-decoder.ts";
import type { Invoice, Money, PaymentStatus, SeqrApi, SeqrReport } from "./seqr-api.ts";
import {
  SeqrError,
  SeqrInvalidRequestError,
  SeqrMalformedResponseError,
  type SeqrOperation,
  SeqrTimeoutError,
  SeqrTransportError,
} from "./seqr-errors.ts";
import { soapRequestHeaders } from "./soap-envelope.ts";

/**
 * SeqrApi over SOAP 1.1: one envelope per call with a fresh ClientContext (unique clientReference, timeout 0, the
 * TERMINALID principal, or the RESELLERUSER one for markTransactionPeriod and executeReport), one typed error per kind of failure.
 * The password goes into the envelope and nowhere else: not into logs, not into errors.
 */

export interface SeqrSoapClientOptions {
  /** The SOAP endpoint: the WSDL URL without `?wsdl`. */
  endpointUrl: string;
  terminalId: string;
  password: string;
  /** Identifies our software to SEQR (certification wants the company name). */
  clientId: string;
  channel?: string;
  clientComment?: string;
  /** Needed only for markTransactionPeriod and executeReport (seqr-protocol.md §5). */
  resellerUser?: { id: string; userId: string; password: string };
  /** Deadline of one call, whole exchange; default 10 s. */
  requestTimeoutMs?: number;
  /** Per-operation deadlines that override requestTimeoutMs. */
  operationTimeoutsMs?: Partial<Record<SeqrOperation, number>>;
  /** Larger answers are refused (SEQR's are a few kB); default 256 KiB. */
  maxResponseBytes?: number;
  /** Request namespace; the documented one by default. */
  namespace?: string;
  logger?: Logger;
  clock?: Clock;
  /** Tests may supply the transport; by default node:http(s) with keep-alive. */
  transport?: SoapTransport;
  /** Unique per call, <= 32 characters; default a random UUID without dashes. */
  newClientReference?: () => string;
}

/** The period-close calls, made as the reseller user rather than the terminal (seqr-protocol.md §5). */
const resellerOperations: ReadonlySet<SeqrOperation> = new Set(["markTransactionPeriod", "executeReport"]);

/** How many reservations the client remembers to refuse a commit or update above them. */
const rememberedReservations = 10_000;

export class SeqrSoapClient implements SeqrApi {
  private readonly options: SeqrSoapClientOptions;
  private readonly transport: SoapTransport;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly newClientReference: () => string;
  /** Reserved maximum per invoice this process created: the money rule "never more than reserved" at the edge. */
  private readonly reservations = new Map<string, Money>();

  constructor(options: SeqrSoapClientOptions) {
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.logger = (options.logger ?? silentLogger()).child({ module: "seqr-client" });
    this.transport =
      options.transport ??
      createHttpTransport(options.endpointUrl, this.clock, { ...soapRequestHeaders, "user-agent": options.clientId });
    this.newClientReference = options.newClientReference ?? (() => randomUUID().replaceAll("-", ""));
  }

  async sendInvoice(invoice: Invoice): Promise<{ invoiceReference: string; invoiceQRCode?: string }> {
    const result = await this.call({ operation: "sendInvoice", invoice, issueDate: this.issueDate() });
    this.remember(result.invoiceReference, invoice.total);
    return result;
  }

  async updateInvoice(invoiceReference: string, invoice: Invoice): Promise<void> {
    this.refuseAboveReservation("updateInvoice", invoiceReference, invoice.total);
    await this.call({ operation: "updateInvoice", invoiceReference, invoice, issueDate: this.issueDate() });
  }

  getPaymentStatus(invoiceReference: string, invoiceVersion: number): Promise<PaymentStatus> {
    return this.call({ operation: "getPaymentStatus", invoiceReference, invoiceVersion });
  }

  async commitReservation(invoiceReference: string, amount: Money): Promise<{ ersReference?: string }> {
    this.refuseAboveReservation("commitReservation", invoiceReference, amount);
    const result = await this.call({ operation: "commitReservation", invoiceReference, amount });
    this.reservations.delete(invoiceReference);
    return result;
  }

  async cancelInvoice(invoiceReference: string): Promise<void> {
    await this.call({ operation: "cancelInvoice", invoiceReference });
    this.reservations.delete(invoiceReference);
  }

  refundPayment(ersReference: string, invoice: Invoice): Promise<{ ersReference: string }> {
    return this.call({ operation: "refundPayment", ersReference, invoice, issueDate: this.issueDate() });
  }

  async submitPaymentReceipt(
    ersReference: string,
    receipt: { mimeType: string; data: Buffer; type: string },
  ): Promise<void> {
    await this.call({ operation: "submitPaymentReceipt", ersReference, receipt });
  }

  markTransactionPeriod(parameters?: Record<string, string>): Promise<{ transactionPeriodId: string }> {
    return this.call({ operation: "markTransactionPeriod", ...(parameters ? { parameters } : {}) });
  }

  executeReport(reportId: string, parameters?: Record<string, string>): Promise<{ report: SeqrReport }> {
    return this.call({ operation: "executeReport", reportId, ...(parameters ? { parameters } : {}) });
  }

  /** Closes the keep-alive connections. */
  close(): void {
    this.transport.close();
  }

  private async call<Op extends SeqrOperation>(request: SeqrRequest & { operation: Op }): Promise<SeqrResults[Op]> {
    const { operation } = request;
    const clientReference = this.newClientReference();
    const started = this.clock.now();
    const timeoutMs = this.options.operationTimeoutsMs?.[operation] ?? this.options.requestTimeoutMs ?? 10_000;
    const maxResponseBytes = this.options.maxResponseBytes ?? 256 * 1024;
    const reference = "invoiceReference" in request ? request.invoiceReference : undefined;
    try {
      const envelope = encodeRequest(request, this.context(operation, clientReference), this.options.namespace);
      let answer: { status: number; body: string };
      try {
        answer = await this.transport.post(envelope, { timeoutMs, maxResponseBytes });
      } catch (error) {
        if (error instanceof HttpDeadlineExceeded) throw new SeqrTimeoutError(operation, timeoutMs, clientReference);
        if (error instanceof HttpBodyTooLarge) {
          throw new SeqrMalformedResponseError(operation, error.message, "", clientReference);
        }
        throw new SeqrTransportError(operation, error, clientReference);
      }
      const result = decodeSeqrResponse(operation, answer.body, {
        httpStatus: answer.status,
        clientReference,
        maxChars: maxResponseBytes,
        ...(this.options.namespace ? { namespaces: [this.options.namespace] } : {}),
      });
      this.logger.debug(
        { operation, clientReference, invoiceReference: reference, ms: this.clock.now() - started },
        "SEQR call succeeded",
      );
      return result;
    } catch (error) {
      const failure =
        error instanceof SeqrError
          ? withReference(error, clientReference)
          : new SeqrMalformedResponseError(operation, `unexpected: ${(error as Error).message}`, "", clientReference);
      this.logger.warn(
        {
          operation,
          clientReference,
          invoiceReference: reference,
          ms: this.clock.now() - started,
          kind: failure.kind,
          resultCode: "resultCode" in failure ? failure.resultCode : undefined,
          error: failure.message,
        },
        "SEQR call failed",
      );
      throw failure;
    }
  }

  private context(operation: SeqrOperation, clientReference: string): ClientContext {
    const { options } = this;
    let principal: Principal = { type: "TERMINALID", id: options.terminalId };
    let password = options.password;
    if (resellerOperations.has(operation)) {
      const user = options.resellerUser;
      if (!user) {
        throw new SeqrInvalidRequestError(
          operation,
          `${operation} needs the RESELLERUSER principal (seqr.resellerUser in the config)`,
        );
      }
      principal = { type: "RESELLERUSER", id: user.id, userId: user.userId };
      password = user.password;
    }
    return {
      channel: options.channel ?? "WS",
      ...(options.clientComment === undefined ? {} : { clientComment: options.clientComment }),
      clientId: options.clientId,
      clientReference,
      principal,
      password,
    };
  }

  /** SEQR's issueDate: local date-time without zone, as SEQR's own plugins send it. */
  private issueDate(): string {
    return seqrIssueDate(this.clock.now());
  }

  private remember(invoiceReference: string, total: Money): void {
    this.reservations.set(invoiceReference, { ...total });
    if (this.reservations.size > rememberedReservations) {
      const oldest = this.reservations.keys().next().value;
      if (oldest !== undefined) this.reservations.delete(oldest);
    }
  }

  private refuseAboveReservation(operation: SeqrOperation, invoiceReference: string, amount: Money | undefined): void {
    const reserved = this.reservations.get(invoiceReference);
    if (!reserved || !amount) return;
    if (amount.currency !== reserved.currency) {
      throw new SeqrInvalidRequestError(
        operation,
        `amount in ${amount.currency}, the reservation of ${invoiceReference} is in ${reserved.currency}`,
      );
    }
    if (amount.minor > reserved.minor) {
      throw new SeqrInvalidRequestError(
        operation,
        `amount ${amount.minor} exceeds the reservation of ${invoiceReference} (${reserved.minor} minor units)`,
      );
    }
  }
}

function withReference(error: SeqrError, clientReference: string): SeqrError {
  // Errors raised before the call got a reference (argument checks) are the same call's: attach it for the log.
  if (error.clientReference === undefined) {
    Object.defineProperty(error, "clientReference", { value: clientReference });
  }
  return error;
}
