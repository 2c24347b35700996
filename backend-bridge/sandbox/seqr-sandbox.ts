import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { z } from "zod";
import { type Clock, systemClock } from "../../platform/clock.ts";
import { HttpBodyError, readBody, readJsonBody, sendJson } from "../../platform/http-json.ts";
import { type Logger, silentLogger } from "../../platform/logger.ts";
import { parseDecimalToMinor } from "../../platform/money.ts";
import type { EnvelopePrefixes } from "../seqr/soap-envelope.ts";
import { CustomerApp, CustomerAppError } from "./customer-app.ts";
import { customerAppPage } from "./customer-app-page.ts";
import { callFaultSchema, FaultInjector, notificationFaultSchema } from "./fault-injector.ts";
import { InvoiceLedger, type SandboxInvoice } from "./invoice-ledger.ts";
import { Notifier } from "./notifier.ts";
import { type SandboxOptions, type SandboxOptionsInput, sandboxOptionsSchema } from "./sandbox-options.ts";
import { SeqrSoapService } from "./soap-service.ts";
import { UpsCaller } from "./ups-caller.ts";

/**
 * The SEQR sandbox: SEQR's SOAP merchant API, the UPS caller and the customer's app behind one HTTP server.
 *
 *   POST /soap                         the merchant API (SOAP 1.1), what the bridge's SeqrSoapClient talks to
 *   GET  /app/                         the customer's app as a page (plain HTML + JS, no build step)
 *   /app/api/...                       the app's JSON API (customers' invoices, confirm, cancel, scan)
 *   /sandbox/api/...                   the operator's view: invoices, SOAP call log, notifications, UPS log, faults
 *   GET  /healthz
 *
 * As a library every part is also reachable directly (ledger, app, ups, faults), and the clock is injectable so
 * fake timers drive the 20-second rule and the commit timeout.
 */

export interface SandboxRuntime {
  clock?: Clock;
  logger?: Logger;
  /** Envelope/wrapper prefixes of the SOAP answers (CXF's soap:/ns2: by default). */
  responsePrefixes?: EnvelopePrefixes;
}

export interface SeqrSandbox {
  /** Base URL, e.g. http://127.0.0.1:41234 */
  url: string;
  /** The SOAP endpoint to give the client (`seqr.endpointUrl`). */
  soapUrl: string;
  /** The customer's app page. */
  appUrl: string;
  options: SandboxOptions;
  ledger: InvoiceLedger;
  app: CustomerApp;
  ups: UpsCaller;
  faults: FaultInjector;
  notifier: Notifier;
  soap: SeqrSoapService;
  close(): Promise<void>;
}

export async function startSeqrSandbox(input: SandboxOptionsInput & SandboxRuntime = {}): Promise<SeqrSandbox> {
  const { clock = systemClock, logger: parentLogger, responsePrefixes, ...rest } = input;
  const options = sandboxOptionsSchema.parse(rest);
  const logger = (parentLogger ?? silentLogger()).child({ module: "seqr-sandbox" });
  const faults = new FaultInjector();
  const notifier = new Notifier(clock, faults, options.notificationTimeoutMs, logger);
  const ledger = new InvoiceLedger(options, clock, { notify: (invoice, trigger) => notifier.notify(invoice, trigger) });
  const ups = new UpsCaller(options.ups, ledger, clock, logger);
  const app = new CustomerApp(options, ledger, ups);
  const soap = new SeqrSoapService({
    options,
    ledger,
    faults,
    clock,
    logger,
    ...(responsePrefixes ? { responsePrefixes } : {}),
  });

  const routes = new SandboxRoutes({ options, ledger, app, faults, notifier, soap, ups });
  const server = createServer((request, response) => {
    routes.handle(request, response).catch((error: unknown) => {
      logger.error({ err: error }, "sandbox request failed");
      if (!response.headersSent) sendJson(response, 500, { error: "internal error" });
      else response.destroy();
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  logger.info({ url }, "SEQR sandbox listening");

  return {
    url,
    soapUrl: `${url}/soap`,
    appUrl: `${url}/app/`,
    options,
    ledger,
    app,
    ups,
    faults,
    notifier,
    soap,
    close: async () => {
      ledger.close();
      notifier.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

// ---- HTTP routing ---------------------------------------------------------------------------------------------

class HttpProblem extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** The operator and customer-app APIs take small JSON bodies; SOAP envelopes have their own limit (maxRequestBytes). */
const maxJsonBytes = 65_536;

const msisdnField = z.string().regex(/^\d{6,15}$/, "6-15 digits");
const confirmBody = z.strictObject({ msisdn: msisdnField, pin: z.string().regex(/^\d{4,6}$/, "4-6 digits") });
const cancelBody = z.strictObject({ msisdn: msisdnField });
const scanBody = z.strictObject({
  msisdn: msisdnField,
  qr: z.string().min(1).max(200),
  /** Decimal major units as the customer types them, e.g. "20.00". */
  amount: z.string().max(20).optional(),
  currency: z.string().length(3).optional(),
});
const faultBody = z.union([
  z.strictObject({ call: callFaultSchema }),
  z.strictObject({ notification: notificationFaultSchema }),
]);

interface RouteDependencies {
  options: SandboxOptions;
  ledger: InvoiceLedger;
  app: CustomerApp;
  faults: FaultInjector;
  notifier: Notifier;
  soap: SeqrSoapService;
  ups: UpsCaller;
}

class SandboxRoutes {
  private readonly deps: RouteDependencies;

  constructor(deps: RouteDependencies) {
    this.deps = deps;
  }

  async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? "/", "http://sandbox");
    const path = url.pathname;
    const method = request.method ?? "GET";
    try {
      if (path === "/soap") return await this.soapEndpoint(request, response, method);
      if (method === "GET" && (path === "/" || path === "/app")) return redirect(response, "/app/");
      if (method === "GET" && path === "/app/") {
        response.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
        response.end(customerAppPage);
        return;
      }
      if (method === "GET" && path === "/healthz") return sendJson(response, 200, { ok: true });
      if (path.startsWith("/app/api/")) return sendJson(response, 200, await this.appApi(request, method, path));
      if (path.startsWith("/sandbox/api/")) {
        const { status, body } = await this.operatorApi(request, method, path);
        return sendJson(response, status, body);
      }
      throw new HttpProblem(404, `no route ${method} ${path}`);
    } catch (error) {
      if (error instanceof HttpProblem || error instanceof HttpBodyError) {
        return sendJson(response, error.status, { error: error.message });
      }
      if (error instanceof CustomerAppError) {
        return sendJson(response, error.httpStatus, { error: error.message, code: error.code });
      }
      if (error instanceof z.ZodError) {
        return sendJson(response, 400, { error: "invalid request", issues: z.flattenError(error) });
      }
      throw error;
    }
  }

  private async soapEndpoint(request: IncomingMessage, response: ServerResponse, method: string): Promise<void> {
    if (method !== "POST") {
      response.writeHead(405, { allow: "POST", "content-type": "text/plain" });
      response.end("SOAP endpoint: POST a SOAP 1.1 envelope\n");
      return;
    }
    const body = await readBody(request, this.deps.options.maxRequestBytes);
    const answer = await this.deps.soap.handle(body);
    response.writeHead(answer.status, { "content-type": answer.contentType });
    response.end(answer.body);
  }

  private async appApi(request: IncomingMessage, method: string, path: string): Promise<unknown> {
    const { app } = this.deps;
    const parts = path.slice("/app/api/".length).split("/").map(decodeURIComponent);
    if (method === "GET" && parts.length === 3 && parts[0] === "customers" && parts[2] === "invoices") {
      const msisdn = msisdnField.parse(parts[1]);
      return { invoices: app.invoices(msisdn), scanProblem: app.lastScanProblem(msisdn) ?? null };
    }
    if (method === "GET" && parts.length === 2 && parts[0] === "invoices") return { invoice: app.invoice(parts[1]!) };
    if (method === "POST" && parts.length === 3 && parts[0] === "invoices" && parts[2] === "confirm") {
      return { invoice: app.confirm(parts[1]!, confirmBody.parse(await readJsonBody(request, maxJsonBytes))) };
    }
    if (method === "POST" && parts.length === 3 && parts[0] === "invoices" && parts[2] === "cancel") {
      return { invoice: app.cancel(parts[1]!, cancelBody.parse(await readJsonBody(request, maxJsonBytes))) };
    }
    if (method === "POST" && parts.length === 1 && parts[0] === "scan") {
      const scan = scanBody.parse(await readJsonBody(request, maxJsonBytes));
      const currency = scan.currency ?? this.deps.options.ups.defaultAmount.currency;
      let amount: { minor: number; currency: string } | undefined;
      if (scan.amount !== undefined) {
        try {
          amount = { minor: parseDecimalToMinor(scan.amount, currency), currency };
        } catch (error) {
          throw new HttpProblem(400, `amount: ${(error as Error).message}`);
        }
        if (amount.minor <= 0) throw new HttpProblem(400, "amount must be above zero");
      }
      return app.scan({ msisdn: scan.msisdn, qr: scan.qr, ...(amount ? { amount } : {}) });
    }
    throw new HttpProblem(404, `no route ${method} ${path}`);
  }

  private async operatorApi(
    request: IncomingMessage,
    method: string,
    path: string,
  ): Promise<{ status: number; body: unknown }> {
    const { ledger, notifier, soap, faults, ups } = this.deps;
    const parts = path.slice("/sandbox/api/".length).split("/").map(decodeURIComponent);
    const [resource, id] = parts;
    if (method === "GET" && resource === "invoices" && id === undefined) {
      return { status: 200, body: { invoices: ledger.list().map(publicInvoice) } };
    }
    if (method === "GET" && resource === "invoices" && id !== undefined) {
      const invoice = ledger.get(id);
      if (!invoice) throw new HttpProblem(404, `no invoice ${id}`);
      return { status: 200, body: { invoice: publicInvoice(invoice), notifications: notifier.attempts(id) } };
    }
    if (method === "GET" && resource === "calls") return { status: 200, body: { calls: soap.calls() } };
    if (method === "GET" && resource === "notifications")
      return { status: 200, body: { notifications: notifier.attempts() } };
    if (method === "GET" && resource === "ups") return { status: 200, body: { scans: ups.history() } };
    if (resource === "faults") {
      if (method === "GET") return { status: 200, body: faults.list() };
      if (method === "POST" && id === undefined) {
        const rule = faultBody.parse(await readJsonBody(request, maxJsonBytes));
        const faultId =
          "call" in rule ? faults.addCallFault(rule.call) : faults.addNotificationFault(rule.notification);
        return { status: 201, body: { id: faultId } };
      }
      if (method === "DELETE" && id === undefined) {
        faults.clear();
        return { status: 200, body: { cleared: true } };
      }
      if (method === "DELETE" && id !== undefined) {
        if (!faults.remove(Number(id))) throw new HttpProblem(404, `no fault ${id}`);
        return { status: 200, body: { removed: Number(id) } };
      }
    }
    throw new HttpProblem(404, `no route ${method} ${path}`);
  }
}

/** The operator's view of an invoice: a copy, so that serialising never races the ledger. */
function publicInvoice(invoice: SandboxInvoice): SandboxInvoice {
  return structuredClone(invoice);
}

function redirect(response: ServerResponse, location: string): void {
  response.writeHead(302, { location });
  response.end();
}
