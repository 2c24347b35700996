import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { z } from "zod";
import { seqrQrPayload } from "../agent/display/qr.ts";
import type { SeqrSandbox } from "../backend-bridge/sandbox/seqr-sandbox.ts";
import { readJsonBody, sendJson } from "../platform/http-json.ts";
import { demoPageHtml } from "./demo-page.ts";
import { demoCustomer, demoMerchantId } from "./demo-setup.ts";
import type { FlowFeed } from "./flow-feed.ts";

/**
 * The demo page's server: the page, the flow feed, "scan this machine" (the sandbox's UPS caller posts createPurchase
 * to the bridge, as SEQR would) and the state the browser test reads back (the sandbox's invoices).
 */
export interface DemoServerOptions {
  host: string;
  port: number;
  machines: { id: string; name: string; kioskUrl: string }[];
  sandbox: SeqrSandbox;
  flow: FlowFeed;
}

export interface DemoServer {
  url: string;
  close(): Promise<void>;
}

/** A scan body is one machine id; anything bigger or not JSON is answered 400 like any other bad body. */
const maxScanBodyBytes = 4_096;
const scanBody = z.strictObject({ machineId: z.string().min(1).max(32) });

export async function startDemoServer(options: DemoServerOptions): Promise<DemoServer> {
  // The phone's "scanned code" field shows a code that works here as its example: the first machine's.
  const example = options.machines[0] ? seqrQrPayload(demoMerchantId, options.machines[0].id) : undefined;
  const phoneUrl =
    `${options.sandbox.appUrl}?msisdn=${demoCustomer.msisdn}&pin=${demoCustomer.pin}` +
    (example ? `&qrExample=${encodeURIComponent(example)}` : "");
  const page = demoPageHtml(options.machines, phoneUrl);
  const server: Server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => sendJson(response, 500, { error: (error as Error).message }));
  });

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = new URL(request.url ?? "/", "http://demo").pathname;
    if (request.method === "GET" && path === "/") {
      response.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
      response.end(page);
      return;
    }
    if (request.method === "GET" && path === "/events") return options.flow.subscribe(response);
    if (request.method === "GET" && path === "/api/state") {
      return sendJson(response, 200, {
        machines: options.machines,
        phoneUrl,
        customer: demoCustomer.msisdn,
        invoices: options.sandbox.app.invoices(demoCustomer.msisdn),
      });
    }
    if (request.method === "POST" && path === "/api/scan") {
      const parsed = scanBody.safeParse(await readJsonBody(request, maxScanBodyBytes).catch(() => undefined));
      if (!parsed.success || !options.machines.some((machine) => machine.id === parsed.data.machineId)) {
        return sendJson(response, 400, { error: "body must be {machineId} of a demo machine" });
      }
      const qr = seqrQrPayload(demoMerchantId, parsed.data.machineId);
      const result = await options.sandbox.app.scan({ msisdn: demoCustomer.msisdn, qr });
      const summary =
        result.kind === "invoice"
          ? `opened invoice ${result.invoice.invoiceReference}`
          : result.outcome.kind === "invoice"
            ? `scanned ${qr}: the reseller created invoice ${result.outcome.invoiceReferenceId}; confirm it on the phone`
            : result.outcome.kind === "error-code"
              ? `scanned ${qr}: the reseller answered ${result.outcome.errorCode}`
              : `scanned ${qr}: createPurchase failed (${result.outcome.reason})`;
      return sendJson(response, 200, { summary, result });
    }
    sendJson(response, 404, { error: "not found" });
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host}:${port}/`,
    close: async () => {
      options.flow.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
