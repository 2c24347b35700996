import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { BridgeConfig } from "../../config/schema/bridge.ts";
import { listenOn, serverOrigin } from "../../platform/http-listen.ts";
import type { Logger } from "../../platform/logger.ts";
import { OperatorConsole } from "../console/operator-console.ts";
import type { BridgeMetrics } from "./metrics.ts";

/**
 * The operations listener: GET /healthz, GET /metrics and the operator's console (/console), on its own address (loopback by default), apart from the
 * public API that SEQR reaches. Metrics name machines, outcomes and error rates: nothing a stranger should read, and
 * nothing SEQR needs. Plain HTTP, since it is meant for the host itself or a scraper on a private network.
 */
export interface AdminServerDeps {
  admin: BridgeConfig["admin"];
  metrics: BridgeMetrics;
  /** Resolves when the store answers; /healthz reports 503 otherwise. */
  health: () => Promise<{ machinesOnline: number }>;
  logger: Logger;
  /** The operator's web console under /console; absent, those paths are 404 like any other. */
  console?: OperatorConsole;
}

export class AdminHttpServer {
  readonly #deps: AdminServerDeps;
  readonly #server: Server;
  readonly #log: Logger;
  #stopping = false;

  constructor(deps: AdminServerDeps) {
    this.#deps = deps;
    this.#log = deps.logger.child({ module: "admin-http" });
    this.#server = createServer((request, response) => {
      this.#handle(request, response).catch((error: unknown) => {
        this.#log.error({ err: error }, "admin request failed");
        if (!response.headersSent) sendJson(response, 500, { status: "error" });
        else response.destroy();
      });
    });
    this.#server.requestTimeout = 10_000;
    this.#server.headersTimeout = 5_000;
    this.#server.maxConnections = 64;
  }

  listen(): Promise<AddressInfo> {
    return listenOn(this.#server, this.#deps.admin.port, this.#deps.admin.host);
  }

  get url(): string {
    return serverOrigin(this.#server, "http");
  }

  /** From now on /healthz answers 503 "stopping", so a load balancer takes the instance out while it drains. */
  markStopping(): void {
    this.#stopping = true;
  }

  async close(): Promise<void> {
    this.#stopping = true;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    await closed;
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? "/", "http://admin");
    const path = url.pathname;
    if (this.#deps.console && OperatorConsole.owns(path)) return this.#deps.console.handle(request, response, url);
    request.resume();
    if (path === "/healthz" && request.method === "GET") return this.#health(response);
    if (path === "/metrics" && request.method === "GET") {
      const body = await this.#deps.metrics.registry.metrics();
      response.writeHead(200, { "Content-Type": this.#deps.metrics.registry.contentType });
      response.end(body);
      return;
    }
    sendJson(response, 404, { error: "not found" });
  }

  async #health(response: ServerResponse): Promise<void> {
    try {
      const { machinesOnline } = await this.#deps.health();
      sendJson(response, this.#stopping ? 503 : 200, {
        status: this.#stopping ? "stopping" : "ok",
        store: "ok",
        machinesOnline,
      });
    } catch (error) {
      this.#log.error({ err: error }, "health check failed");
      sendJson(response, 503, { status: "degraded", store: "unavailable" });
    }
  }
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    "Content-Type": "application/json;charset=UTF-8",
    "Content-Length": Buffer.byteLength(text),
    "Cache-Control": "no-store",
  });
  response.end(text);
}
