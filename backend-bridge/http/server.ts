import { readFileSync } from "node:fs";
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { BridgeConfig } from "../../config/schema/bridge.ts";
import { listenOn, serverOrigin } from "../../platform/http-listen.ts";
import { firstDuplicateKey } from "../../platform/json-duplicate-keys.ts";
import type { Logger } from "../../platform/logger.ts";
import type { CreatePurchaseResult, PurchaseRequest } from "../purchase/orchestrator.ts";
import { checkCaller } from "./caller-auth.ts";
import { parseCreatePurchase } from "./create-purchase-request.ts";
import type { BridgeMetrics } from "./metrics.ts";
import { RateLimiter } from "./rate-limit.ts";

/**
 * The bridge's HTTP(S) API:
 *   POST <base>/createPurchase       SEQR UPS starts a purchase; always HTTP 200 with {invoiceReferenceId} or {errorCode}
 *   POST <base>/notify/<secret>      SEQR's notification; 200 at once, the status is fetched afterwards
 * /healthz and /metrics are not here: they are on the admin listener (admin-server.ts), loopback by default.
 * <base> is the path of http.publicBaseUrl; the same routes also answer without it (a proxy that strips the prefix).
 */

export interface PurchaseApi {
  createPurchase(request: PurchaseRequest): Promise<CreatePurchaseResult>;
  notified(notifySecret: string): Promise<unknown>;
}

export interface HttpServerDeps {
  http: BridgeConfig["http"];
  callerAuth: BridgeConfig["callerAuth"];
  purchases: PurchaseApi;
  metrics: BridgeMetrics;
  logger: Logger;
  now?: () => number;
}

const jsonType = "application/json;charset=UTF-8";

export class BridgeHttpServer {
  readonly #deps: HttpServerDeps;
  readonly #server: Server;
  readonly #log: Logger;
  /** createPurchase calls per caller and source address. */
  readonly #callerLimiter: RateLimiter;
  /** createPurchase calls per caller, source address and machine token. */
  readonly #machineLimiter: RateLimiter;
  readonly #prefix: string;
  readonly #background = new Set<Promise<unknown>>();
  #closing = false;

  constructor(deps: HttpServerDeps) {
    this.#deps = deps;
    this.#log = deps.logger.child({ module: "http" });
    const now = deps.now ?? (() => Date.now());
    this.#callerLimiter = new RateLimiter({ perMinute: deps.http.rateLimitPerCallerPerMinute, now });
    this.#machineLimiter = new RateLimiter({ perMinute: deps.http.rateLimitPerTokenPerMinute, now });
    this.#prefix = new URL(deps.http.publicBaseUrl).pathname.replace(/\/+$/, "");
    const handler = (request: IncomingMessage, response: ServerResponse) => {
      this.#handle(request, response).catch((error: unknown) => {
        this.#log.error({ err: error }, "request failed");
        if (!response.headersSent) sendJson(response, 500, { errorCode: "SYSTEM_ERROR" });
        else response.destroy();
      });
    };
    const limits = serverLimits(deps.http);
    if (deps.http.plainHttp) {
      this.#server = createHttpServer(limits, handler);
    } else {
      if (!deps.http.certFile || !deps.http.keyFile) {
        throw new RangeError("http.certFile and http.keyFile are required unless http.plainHttp is true");
      }
      const clientCertificates = deps.callerAuth.mode === "client-certificate";
      if (clientCertificates && !deps.http.caFile) {
        throw new RangeError("callerAuth.mode client-certificate needs http.caFile");
      }
      this.#server = createHttpsServer(
        {
          ...limits,
          // A TLS handshake that trickles in is a slow loris too.
          handshakeTimeout: deps.http.headersTimeoutMs,
          cert: readFileSync(deps.http.certFile),
          key: readFileSync(deps.http.keyFile),
          ...(deps.http.caFile ? { ca: readFileSync(deps.http.caFile) } : {}),
          // Asked for, checked per route: notifications from SEQR come without one.
          requestCert: clientCertificates,
          rejectUnauthorized: false,
        },
        handler,
      );
    }
    this.#server.maxConnections = deps.http.maxConnections;
    this.#server.maxRequestsPerSocket = deps.http.maxRequestsPerSocket;
  }

  listen(): Promise<AddressInfo> {
    return listenOn(this.#server, this.#deps.http.port, this.#deps.http.host);
  }

  get url(): string {
    return serverOrigin(this.#server, this.#deps.http.plainHttp ? "http" : "https");
  }

  /** Stops taking requests, lets those in flight finish (up to `graceMs`), waits for notification checks. */
  async close(graceMs = 10_000): Promise<void> {
    this.#closing = true;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeIdleConnections();
    const timer = setTimeout(() => this.#server.closeAllConnections(), graceMs);
    timer.unref();
    await closed;
    clearTimeout(timer);
    await Promise.allSettled([...this.#background]);
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = new URL(request.url ?? "/", "http://bridge").pathname;
    const local = path.startsWith(`${this.#prefix}/`) ? path.slice(this.#prefix.length) : path;
    if (this.#closing) response.setHeader("Connection", "close");
    if (local === "/createPurchase") {
      if (request.method !== "POST") return sendJson(response, 405, { errorCode: "SYSTEM_ERROR" }, { Allow: "POST" });
      return this.#createPurchase(request, response);
    }
    const notify = /^\/notify\/([A-Za-z0-9_-]{1,128})$/.exec(local);
    if (notify?.[1]) {
      if (request.method !== "POST" && request.method !== "GET") return sendEmpty(response, 405);
      return this.#notification(request, response, notify[1]);
    }
    request.resume();
    sendJson(response, 404, { error: "not found" });
  }

  async #createPurchase(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const caller = checkCaller(request, this.#deps.callerAuth);
    if (!caller.ok) {
      this.#log.warn({ reason: caller.reason }, "createPurchase caller refused");
      request.resume();
      const headers: Record<string, string> =
        caller.status === 401 ? { "WWW-Authenticate": 'Basic realm="vend-bridge"' } : {};
      return sendJson(response, caller.status, { errorCode: "SYSTEM_ERROR" }, headers);
    }
    const body = await readBody(request, this.#deps.http.bodyLimitBytes);
    if (!body.ok) {
      this.#log.warn({ reason: body.reason }, "createPurchase body refused");
      return sendJson(response, 200, { errorCode: "SYSTEM_ERROR" }, { Connection: "close" });
    }
    // A UTF-8 byte order mark before the JSON is allowed to be ignored (RFC 8259 §8.1); anything else must parse.
    const text = body.text.startsWith("\uFEFF") ? body.text.slice(1) : body.text;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return this.#answer(response, { errorCode: "SYSTEM_ERROR" }, "body is not JSON");
    }
    const duplicate = firstDuplicateKey(text);
    if (duplicate !== undefined) {
      return this.#answer(
        response,
        { errorCode: "SYSTEM_ERROR" },
        `body has the key ${JSON.stringify(duplicate)} twice`,
      );
    }
    const parsed = parseCreatePurchase(json);
    if (!parsed.ok) return this.#answer(response, { errorCode: "SYSTEM_ERROR" }, parsed.error);
    // Keyed on who is calling and from where, never only on the token the caller chose: a flood from one address
    // (or one caller) spends its own budget, not the budget of the machine it names (issue 18).
    const from = `${caller.caller}@${request.socket.remoteAddress ?? "unknown"}`;
    if (!this.#callerLimiter.take(from)) {
      return this.#answer(response, { errorCode: "SYSTEM_ERROR" }, "rate limit of this caller exceeded");
    }
    // The same caller claiming the same machine again and again: the machine is in use (by its own earlier claim, or
    // it soon will be); answered without reaching the store or SEQR, so no invoice is made for it.
    if (!this.#machineLimiter.take(`${from}#${parsed.request.token}`)) {
      return this.#answer(response, { errorCode: "DEVICE_IN_USE" }, "repeated claims of this machine by this caller");
    }
    if (this.#closing) return this.#answer(response, { errorCode: "SYSTEM_ERROR" }, "shutting down");
    const result = await this.#deps.purchases.createPurchase(parsed.request);
    sendJson(response, 200, result);
  }

  #answer(response: ServerResponse, result: CreatePurchaseResult, reason: string): void {
    this.#log.warn({ reason }, "createPurchase refused");
    this.#deps.metrics.createPurchase.inc({ result: "errorCode" in result ? result.errorCode : "OK" });
    sendJson(response, 200, result);
  }

  #notification(request: IncomingMessage, response: ServerResponse, secret: string): void {
    // SEQR expects 200 at once; the body (empty per UPS) is ignored and the status fetched afterwards.
    request.resume();
    sendEmpty(response, 200);
    const check = this.#deps.purchases.notified(secret).catch((error: unknown) => {
      this.#log.error({ err: error }, "notification handling failed");
    });
    this.#background.add(check);
    void check.finally(() => this.#background.delete(check));
  }
}

/**
 * Node checks headersTimeout and requestTimeout only every connectionsCheckingInterval (30 s by default), so a slow
 * connection lived up to 30 s past its timeout (issue 18 measured 40 s for 10 s). Checking at a quarter of the headers
 * timeout (at most every second) closes it within that much of the configured second.
 */
function serverLimits(http: BridgeConfig["http"]) {
  return {
    headersTimeout: http.headersTimeoutMs,
    requestTimeout: http.requestTimeoutMs,
    keepAliveTimeout: http.keepAliveTimeoutMs,
    connectionsCheckingInterval: Math.max(100, Math.min(1_000, Math.floor(http.headersTimeoutMs / 4))),
  };
}

function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    "Content-Type": jsonType,
    "Content-Length": Buffer.byteLength(text),
    "Cache-Control": "no-store",
    ...headers,
  });
  response.end(text);
}

function sendEmpty(response: ServerResponse, status: number): void {
  response.writeHead(status, { "Content-Length": 0 });
  response.end();
}

/** Reads a body of at most `limit` bytes; beyond that the rest is not read. */
function readBody(
  request: IncomingMessage,
  limit: number,
): Promise<{ ok: true; text: string } | { ok: false; reason: string }> {
  const declared = Number(request.headers["content-length"] ?? "0");
  if (declared > limit) {
    request.resume();
    return Promise.resolve({ ok: false, reason: `body of ${declared} bytes is over the ${limit}-byte limit` });
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    request.on("data", (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        done = true;
        resolve({ ok: false, reason: `body is over the ${limit}-byte limit` });
        return;
      }
      chunks.push(chunk);
    });
    request.on("end", () => {
      if (done) return;
      done = true;
      resolve({ ok: true, text: Buffer.concat(chunks).toString("utf8") });
    });
    request.on("error", () => {
      if (done) return;
      done = true;
      resolve({ ok: false, reason: "request aborted" });
    });
  });
}
