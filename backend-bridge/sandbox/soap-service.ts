import { createHash, timingSafeEqual } from "node:crypto";
import type { Clock } from "../../platform/clock.ts";
import type { Logger } from "../../platform/logger.ts";
import { seqrResultCodes, seqrResultName } from "../seqr/result-codes.ts";
import type { SeqrOperation } from "../seqr/seqr-errors.ts";
import {
  buildSoapEnvelope,
  buildSoapFault,
  cxfResponsePrefixes,
  type EnvelopePrefixes,
  readSoapEnvelope,
  seqrNamespace,
  seqrNamespaces,
} from "../seqr/soap-envelope.ts";
import { childElement, childText, type XmlElement, type XmlObject } from "../seqr/xml-document.ts";
import type { CallFault, FaultInjector } from "./fault-injector.ts";
import { type InvoiceLedger, type SandboxInvoice, SeqrFailure } from "./invoice-ledger.ts";
import type { SandboxOptions, SandboxTerminal } from "./sandbox-options.ts";
import {
  isSandboxOperation,
  type RequestContext,
  readContext,
  readRequest,
  type SandboxRequest,
  UnmarshalError,
} from "./soap-request-reader.ts";

/**
 * The sandbox's SOAP endpoint: one request envelope in, one response (or fault) out, as SEQR's CXF service answers.
 * Order of checks as SEQR: envelope and wrapper (fault), principal and password (29/37, 20), rights (21), then the
 * operation's own rules (the ledger). Injected faults wrap the whole thing.
 */

export interface SoapAnswer {
  status: number;
  contentType: string;
  body: string;
}

export interface CallRecord {
  at: number;
  operation: string;
  clientReference: string | undefined;
  principalId: string | undefined;
  /** The caller's ClientContext clientId: which of several bridge instances made the call. */
  clientId: string | undefined;
  invoiceReference: string | undefined;
  resultCode: number | undefined;
  fault: string | undefined;
  injected: string | undefined;
  reason: string | undefined;
}

const xmlType = "text/xml; charset=UTF-8";
const codes = seqrResultCodes;

type Principal = { kind: "terminal"; terminal: SandboxTerminal } | { kind: "reseller"; id: string };

export interface SoapServiceDependencies {
  options: Pick<SandboxOptions, "terminals" | "resellerUsers" | "maxRequestBytes">;
  ledger: InvoiceLedger;
  faults: FaultInjector;
  clock: Clock;
  logger: Logger;
  /** Prefixes of the answers; CXF's soap:/ns2: by default. */
  responsePrefixes?: EnvelopePrefixes;
}

export class SeqrSoapService {
  private readonly deps: SoapServiceDependencies;
  private readonly log: CallRecord[] = [];

  constructor(deps: SoapServiceDependencies) {
    this.deps = deps;
  }

  calls(): CallRecord[] {
    return [...this.log];
  }

  async handle(body: string): Promise<SoapAnswer> {
    const record: CallRecord = {
      at: this.deps.clock.now(),
      operation: "?",
      clientReference: undefined,
      principalId: undefined,
      clientId: undefined,
      invoiceReference: undefined,
      resultCode: undefined,
      fault: undefined,
      injected: undefined,
      reason: undefined,
    };
    this.log.push(record);
    if (this.log.length > 1_000) this.log.shift();

    let wrapper: XmlElement;
    try {
      const message = readSoapEnvelope(body, { maxChars: this.deps.options.maxRequestBytes });
      if (message.kind === "fault") return this.fault(record, "a Fault is not a request");
      wrapper = message.element;
    } catch (error) {
      return this.fault(record, `Unmarshalling Error: ${(error as Error).message}`);
    }
    const operation = wrapper.localName;
    record.operation = operation;
    if (!seqrNamespaces.includes(wrapper.namespace ?? "") || !isSandboxOperation(operation)) {
      const found = `{${wrapper.namespace ?? ""}}${operation}`;
      return this.fault(record, `Unexpected wrapper element ${found} found. Expected {${seqrNamespace}}<operation>.`);
    }
    record.invoiceReference = childText(wrapper, "invoiceReference") ?? childText(wrapper, "ersReference");
    // Known before any injected latency: a test can tell which caller has a slow call in flight.
    const context = childElement(wrapper, "context");
    record.clientId = context ? childText(context, "clientId") : undefined;
    const invoiceElement = childElement(wrapper, "invoice");
    const injected = this.deps.faults.takeCallFaults({
      operation,
      invoiceReference: record.invoiceReference,
      clientInvoiceId: invoiceElement ? childText(invoiceElement, "clientInvoiceId") : undefined,
    });
    const latency = injected.find((fault) => fault.effect.kind === "latency");
    if (latency?.effect.kind === "latency") await this.sleep(latency.effect.ms);
    const failure = injected.find((fault) => fault.effect.kind !== "latency");
    if (failure && failure.when === "before") return this.injectedAnswer(record, operation, failure);

    let answer: SoapAnswer;
    try {
      answer = this.execute(record, operation, wrapper);
    } catch (error) {
      if (error instanceof UnmarshalError) return this.fault(record, `Unmarshalling Error: ${error.message}`);
      this.deps.logger.error({ err: error, operation }, "sandbox failed on a request");
      return this.respond(record, operation, { resultCode: codes.SYSTEM_ERROR }, (error as Error).message);
    }
    return failure ? this.injectedAnswer(record, operation, failure) : answer;
  }

  private execute(record: CallRecord, operation: SeqrOperation, wrapper: XmlElement): SoapAnswer {
    const context = readContext(wrapper);
    record.clientReference = context.clientReference;
    record.principalId = context.principal.id;
    try {
      const principal = this.authenticate(context);
      if (operation === "markTransactionPeriod" || operation === "executeReport") {
        if (principal.kind !== "reseller") {
          throw new SeqrFailure(codes.ACCESS_DENIED, `${operation} needs the RESELLERUSER principal`);
        }
        return this.respond(record, operation, this.applyAsReseller(readRequest(operation, wrapper)));
      }
      if (principal.kind !== "terminal") {
        throw new SeqrFailure(codes.ACCESS_DENIED, `${operation} needs the TERMINALID principal`);
      }
      // Business data is read after authentication, so a wrong password is answered before bad data, as SEQR does.
      return this.respond(record, operation, this.apply(principal.terminal, readRequest(operation, wrapper)));
    } catch (error) {
      if (error instanceof SeqrFailure)
        return this.respond(record, operation, { resultCode: error.code }, error.message);
      throw error;
    }
  }

  private applyAsReseller(request: SandboxRequest): ReturnFields {
    const { ledger } = this.deps;
    if (request.operation === "markTransactionPeriod") {
      return { transactionPeriodId: ledger.markTransactionPeriod() };
    }
    if (request.operation !== "executeReport") {
      throw new SeqrFailure(codes.ACCESS_DENIED, `${request.operation} needs the TERMINALID principal`);
    }
    const content = ledger.periods.report(request.reportId, request.parameters);
    // report{title, mimeType, content(base64), contentString} (seqr-protocol.md §6).
    return {
      report: {
        title: request.reportId,
        mimeType: "text/csv",
        content: Buffer.from(content, "utf8").toString("base64"),
        contentString: content,
      },
    };
  }

  private apply(terminal: SandboxTerminal, request: SandboxRequest): ReturnFields {
    const { ledger } = this.deps;
    switch (request.operation) {
      case "sendInvoice": {
        const invoice = ledger.sendInvoice(terminal, request.invoice);
        return { invoiceQRCode: invoice.invoiceQRCode, invoiceReference: invoice.invoiceReference };
      }
      case "updateInvoice":
        ledger.updateInvoice(terminal, request.invoiceReference, request.invoice);
        return {};
      case "getPaymentStatus":
        return statusFields(ledger.getPaymentStatus(terminal, request.invoiceReference), terminal);
      case "commitReservation":
        return {
          ersReference: ledger.commitReservation(terminal, request.invoiceReference, request.amount).ersReference,
        };
      case "cancelInvoice":
        ledger.cancelInvoice(terminal, request.invoiceReference);
        return {};
      case "refundPayment":
        return { ersReference: ledger.refundPayment(terminal, request.ersReference, request.invoice) };
      case "submitPaymentReceipt":
        ledger.submitPaymentReceipt(terminal, request.ersReference, request.receipt);
        return {};
      case "markTransactionPeriod":
      case "executeReport":
        throw new SeqrFailure(codes.ACCESS_DENIED, `${request.operation} needs the RESELLERUSER principal`);
    }
  }

  private authenticate(context: RequestContext): Principal {
    const { id, type, userId } = context.principal;
    if (type === "RESELLERUSER") {
      const user = this.deps.options.resellerUsers.find(
        (candidate) => candidate.id === id && candidate.userId === userId,
      );
      if (!user) throw new SeqrFailure(codes.INITIATOR_PRINCIPAL_NOT_FOUND, `no reseller user ${id}/${userId ?? "-"}`);
      if (!samePassword(user.password, context.password)) {
        throw new SeqrFailure(codes.AUTHENTICATION_FAILED, "wrong password");
      }
      return { kind: "reseller", id };
    }
    const terminal = this.deps.options.terminals.find((candidate) => candidate.id === id);
    if (type !== "TERMINALID" || !terminal) {
      throw new SeqrFailure(codes.INVALID_INITIATOR_PRINCIPAL_ID, `no terminal ${JSON.stringify(id)} (type ${type})`);
    }
    if (!samePassword(terminal.password, context.password)) {
      throw new SeqrFailure(codes.AUTHENTICATION_FAILED, "wrong password");
    }
    return { kind: "terminal", terminal };
  }

  private respond(record: CallRecord, operation: SeqrOperation, fields: ReturnFields, reason?: string): SoapAnswer {
    const resultCode = fields.resultCode ?? 0;
    record.resultCode = resultCode;
    record.reason = reason;
    const ordered: XmlObject = {
      ersReference: fields.ersReference,
      resultCode: String(resultCode),
      resultDescription: seqrResultName(resultCode),
      invoiceQRCode: fields.invoiceQRCode,
      invoiceReference: fields.invoiceReference,
      status: fields.status,
      receipt: fields.receipt,
      version: fields.version === undefined ? undefined : String(fields.version),
      transactionPeriodId: fields.transactionPeriodId,
      report: fields.report,
    };
    const body = buildSoapEnvelope(
      `${operation}Response`,
      { return: ordered },
      { prefixes: this.deps.responsePrefixes ?? cxfResponsePrefixes, header: false },
    );
    return { status: 200, contentType: xmlType, body };
  }

  private fault(record: CallRecord, faultString: string, faultCode = "Client"): SoapAnswer {
    record.fault = `${faultCode}: ${faultString}`;
    return { status: 500, contentType: xmlType, body: buildSoapFault({ faultCode, faultString }) };
  }

  private injectedAnswer(record: CallRecord, operation: SeqrOperation, fault: CallFault): SoapAnswer {
    const { effect } = fault;
    record.injected = `${effect.kind}${fault.when === "after" ? " (after applying the call)" : ""}`;
    switch (effect.kind) {
      case "http-status":
        record.fault = `HTTP ${effect.status}`;
        return {
          status: effect.status,
          contentType: "text/html",
          body: `<html><body><h1>${effect.status} Injected error</h1></body></html>`,
        };
      case "soap-fault":
        return this.fault(record, effect.faultString, effect.faultCode);
      case "result-code":
        return this.respond(record, operation, { resultCode: effect.code }, "injected");
      case "garbage":
        record.fault = "garbage";
        return { status: 200, contentType: xmlType, body: "<<<not xml at all" };
      case "latency":
        throw new Error("latency is not an answer");
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.deps.clock.setTimeout(resolve, ms));
  }
}

interface ReturnFields {
  resultCode?: number;
  ersReference?: string | undefined;
  invoiceQRCode?: string;
  invoiceReference?: string;
  status?: string;
  receipt?: XmlObject;
  version?: number;
  transactionPeriodId?: string;
  report?: XmlObject;
}

function statusFields(invoice: SandboxInvoice, terminal: SandboxTerminal): ReturnFields {
  const paid = invoice.status === "PAID";
  return {
    ersReference: paid ? invoice.ersReference : undefined,
    status: invoice.status,
    // receipt in WSDL order: terminalId, paymentDate, clientInvoiceId, invoiceReference, paymentReference,
    // payerTerminalId, receiverName, invoice.
    receipt: paid
      ? {
          terminalId: terminal.id,
          paymentDate: invoice.paymentDate,
          clientInvoiceId: invoice.clientInvoiceId,
          invoiceReference: invoice.invoiceReference,
          paymentReference: invoice.ersReference,
          receiverName: terminal.name,
        }
      : undefined,
    version: invoice.version,
  };
}

function samePassword(expected: string, given: string): boolean {
  const digest = (value: string) => createHash("sha256").update(value).digest();
  return timingSafeEqual(digest(expected), digest(given));
}
