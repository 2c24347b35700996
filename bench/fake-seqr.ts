/**
 * A fake SEQR for bench/purchase-cost.ts, meant to run in a process of its own (`node --import tsx
 * bench/fake-seqr.ts`; it prints `{"ready":true,"url":...}` and serves until stdin closes). It answers at once, so a
 * purchase's time is the bridge's (or the floor's), not SEQR's.
 *
 *   POST /soap                         sendInvoice, getPaymentStatus (ISSUED, then RESERVED once confirmed, then PAID
 *                                      after the commit), updateInvoice, commitReservation, cancelInvoice,
 *                                      submitPaymentReceipt
 *   POST /control/confirm/<reference>  the customer confirms; answers {notificationUrl} for the load generator to call
 *   GET  /control/committed/<reference> long poll: answers {committedAt} (process.hrtime in ns, a clock every process
 *                                      of the machine shares) once commitReservation for it has been received
 *   GET  /control/calls                SOAP calls so far, per operation
 *
 * The requests are not parsed as XML: the operation, reference and notification URL are cut out with patterns, so
 * that the fake costs the same little for the bridge's envelopes and the floor's. The answers are the envelopes
 * SEQR's CXF service sends, built with the project's own envelope writer (backend-bridge/seqr/soap-envelope.ts) in
 * the element order of backend-bridge/sandbox/soap-service.ts, so the bridge's decoder reads them as real ones.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { seqrResultName } from "../backend-bridge/seqr/result-codes.ts";
import { buildSoapEnvelope, cxfResponsePrefixes } from "../backend-bridge/seqr/soap-envelope.ts";
import type { XmlObject } from "../backend-bridge/seqr/xml-document.ts";

type Status = "ISSUED" | "RESERVED" | "PAID" | "CANCELED";

interface FakeInvoice {
  status: Status;
  notificationUrl: string;
  committedAt?: bigint;
  waiters: ((committedAt: bigint) => void)[];
}

const operationPattern = /<(?:[\w-]+:)?Body[^>]*>\s*<(?:[\w-]+:)?(\w+)/;
const referencePattern = /<invoiceReference>([^<]+)</;
const notificationPattern = /<notificationUrl>([^<]+)</;

/** The result fields of a successful answer, in the order SEQR's WSDL gives them. */
function answerEnvelope(operation: string, fields: Record<string, string | XmlObject | undefined>): string {
  const ordered: XmlObject = {
    ersReference: fields.ersReference,
    resultCode: "0",
    resultDescription: seqrResultName(0),
    invoiceQRCode: fields.invoiceQRCode,
    invoiceReference: fields.invoiceReference,
    status: fields.status,
    receipt: fields.receipt,
    version: fields.version,
  };
  return buildSoapEnvelope(
    `${operation}Response`,
    { return: ordered },
    { prefixes: cxfResponsePrefixes, header: false },
  );
}

const statusVersion: Record<Status, string> = { ISSUED: "0", RESERVED: "1", PAID: "2", CANCELED: "2" };

export class FakeSeqrState {
  readonly invoices = new Map<string, FakeInvoice>();
  readonly calls: Record<string, number> = {};
  #next = 1;

  /** One SOAP request's answer envelope, or undefined for an operation the fake does not know. */
  soap(body: string): string | undefined {
    const operation = operationPattern.exec(body)?.[1] ?? "?";
    this.calls[operation] = (this.calls[operation] ?? 0) + 1;
    if (operation === "sendInvoice") {
      const invoiceReference = `9${String(this.#next++).padStart(9, "0")}`;
      const notificationUrl = (notificationPattern.exec(body)?.[1] ?? "").replaceAll("&amp;", "&");
      this.invoices.set(invoiceReference, { status: "ISSUED", notificationUrl, waiters: [] });
      return answerEnvelope(operation, { invoiceQRCode: `HTTP://SEQR.SE/R${invoiceReference}`, invoiceReference });
    }
    // The customer's receipt after a commit names the payment (ersReference), not the invoice: accepted as it comes.
    if (operation === "submitPaymentReceipt") return answerEnvelope(operation, {});
    const invoiceReference = referencePattern.exec(body)?.[1] ?? "";
    const invoice = this.invoices.get(invoiceReference);
    if (!invoice) return undefined;
    switch (operation) {
      case "getPaymentStatus": {
        const paid = invoice.status === "PAID";
        return answerEnvelope(operation, {
          ersReference: paid ? `E${invoiceReference}` : undefined,
          status: invoice.status,
          receipt: paid
            ? { invoiceReference, paymentReference: `E${invoiceReference}`, receiverName: "Bench shop" }
            : undefined,
          version: statusVersion[invoice.status],
        });
      }
      case "commitReservation": {
        invoice.status = "PAID";
        const committedAt = process.hrtime.bigint();
        invoice.committedAt = committedAt;
        for (const wake of invoice.waiters.splice(0)) wake(committedAt);
        return answerEnvelope(operation, { ersReference: `E${invoiceReference}` });
      }
      case "cancelInvoice":
        invoice.status = "CANCELED";
        return answerEnvelope(operation, {});
      case "updateInvoice":
        return answerEnvelope(operation, {});
      default:
        return undefined;
    }
  }

  confirm(invoiceReference: string): string | undefined {
    const invoice = this.invoices.get(invoiceReference);
    if (invoice?.status !== "ISSUED") return undefined;
    invoice.status = "RESERVED";
    return invoice.notificationUrl;
  }

  /** Resolves with the time commitReservation for it was received; forgets the invoice then. */
  committed(invoiceReference: string): Promise<bigint> | undefined {
    const invoice = this.invoices.get(invoiceReference);
    if (!invoice) return undefined;
    const forget = (at: bigint) => {
      this.invoices.delete(invoiceReference);
      return at;
    };
    if (invoice.committedAt !== undefined) return Promise.resolve(forget(invoice.committedAt));
    return new Promise((resolve) => invoice.waiters.push((at) => resolve(forget(at))));
  }
}

function readAll(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    request.on("error", reject);
  });
}

function json(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { "content-type": "application/json" });
  response.end(JSON.stringify(body));
}

export async function startFakeSeqr(port = 0): Promise<{ url: string; state: FakeSeqrState; close(): void }> {
  const state = new FakeSeqrState();
  const server = createServer(async (request, response) => {
    const url = request.url ?? "/";
    const body = await readAll(request);
    if (url === "/soap") {
      const answer = state.soap(body);
      if (answer === undefined) return json(response, 500, { error: "unknown operation or invoice" });
      response.writeHead(200, { "content-type": "text/xml; charset=UTF-8" });
      response.end(answer);
      return;
    }
    const [, , action, reference = ""] = url.split("/");
    if (action === "confirm") {
      const notificationUrl = state.confirm(reference);
      return notificationUrl ? json(response, 200, { notificationUrl }) : json(response, 404, { error: reference });
    }
    if (action === "committed") {
      const committed = state.committed(reference);
      if (!committed) return json(response, 404, { error: reference });
      return json(response, 200, { committedAt: String(await committed) });
    }
    if (action === "calls") return json(response, 200, state.calls);
    json(response, 404, { error: url });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  // Many long polls wait at once at concurrency 64: no per-request timeout cuts them.
  server.requestTimeout = 0;
  const address = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${address.port}`,
    state,
    close: () => {
      server.close();
      server.closeAllConnections();
    },
  };
}

if (process.argv[1] === import.meta.filename) {
  const seqr = await startFakeSeqr();
  process.stdout.write(`${JSON.stringify({ ready: true, url: seqr.url })}\n`);
  process.stdin.resume();
  process.stdin.on("end", () => process.exit(0));
}
