import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import type { SandboxOptionsInput } from "../../backend-bridge/sandbox/sandbox-options.ts";
import { type SandboxRuntime, type SeqrSandbox, startSeqrSandbox } from "../../backend-bridge/sandbox/seqr-sandbox.ts";
import type { Invoice } from "../../backend-bridge/seqr/seqr-api.ts";
import { SeqrSoapClient, type SeqrSoapClientOptions } from "../../backend-bridge/seqr/soap-client.ts";
import type { XmlElement } from "../../backend-bridge/seqr/xml-document.ts";
import { createLogger, type Logger } from "../../platform/logger.ts";

/** Shared fixtures of the SEQR tests: a sandbox + client pair, invoices, tiny HTTP servers, XML tree shapes. */

export const terminal = { id: "0123456789abcdef0123456789abcdef", password: "s3cret-terminal-pw" };
export const resellerUser = { id: "acme_reseller", userId: "9900", password: "reseller-pw-1" };
export const customer = { msisdn: "46701234567", pin: "4321" };

export function reservationInvoice(overrides: Partial<Invoice> = {}): Invoice {
  return {
    paymentMode: "RESERVATION_REQUIRED_PRELIMINARY_AMOUNT",
    title: "Vending M0042",
    clientInvoiceId: "P-000981",
    cashierId: "M0042",
    rows: [{ description: "Reservation", quantity: 1, total: { minor: 2000, currency: "EUR" } }],
    total: { minor: 2000, currency: "EUR" },
    commitReservationTimeoutSeconds: 600,
    ...overrides,
  };
}

/** Rows vended so far, for updateInvoice. */
export function vendedInvoice(prices: number[]): Invoice {
  const rows = prices.map((minor, index) => ({
    description: `Item ${index + 1}`,
    quantity: 1,
    sku: `SKU-${index + 1}`,
    total: { minor, currency: "EUR" },
  }));
  return reservationInvoice({ rows, total: { minor: prices.reduce((a, b) => a + b, 0), currency: "EUR" } });
}

export interface Kit {
  sandbox: SeqrSandbox;
  client: SeqrSoapClient;
  logLines: string[];
  close(): Promise<void>;
}

export async function startKit(
  sandboxInput: SandboxOptionsInput & SandboxRuntime = {},
  clientOptions: Partial<SeqrSoapClientOptions> = {},
): Promise<Kit> {
  const sandbox = await startSeqrSandbox({
    terminals: [{ ...terminal, currency: "EUR", name: "Acme Vending" }],
    resellerUsers: [resellerUser],
    customers: [customer],
    ...sandboxInput,
  });
  const { logger, lines } = capturingLogger();
  const client = new SeqrSoapClient({
    endpointUrl: sandbox.soapUrl,
    terminalId: terminal.id,
    password: terminal.password,
    clientId: "Acme Vending 1.0",
    resellerUser,
    requestTimeoutMs: 5_000,
    logger,
    ...clientOptions,
  });
  return {
    sandbox,
    client,
    logLines: lines,
    close: async () => {
      client.close();
      await sandbox.close();
    },
  };
}

/** A debug-level logger whose lines the test can read (to prove the password never reaches them). */
export function capturingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { logger: createLogger({ name: "test", level: "trace", destination }), lines };
}

export interface RawServer {
  url: string;
  requests: { headers: IncomingMessage["headers"]; body: string }[];
  close(): Promise<void>;
}

/** A bare HTTP server that answers however the test wants: garbage, half a body, nothing at all. */
export async function startRawServer(
  handler: (request: IncomingMessage, response: ServerResponse, body: string) => void,
): Promise<RawServer> {
  const requests: RawServer["requests"] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      requests.push({ headers: request.headers, body });
      handler(request, response, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** An element tree reduced to what the wire contract fixes: namespace, local name, order, text. */
export interface Shape {
  ns?: string;
  name: string;
  text?: string;
  children?: Shape[];
}

export function shapeOf(element: XmlElement, replace: Record<string, string> = {}): Shape {
  const shape: Shape = { name: element.localName };
  if (element.namespace) shape.ns = element.namespace;
  if (element.children.length > 0) shape.children = element.children.map((child) => shapeOf(child, replace));
  else shape.text = replace[element.localName] ?? element.text.trim();
  return shape;
}
