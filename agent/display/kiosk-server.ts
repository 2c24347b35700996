import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { z } from "zod";
import type { Clock } from "../../platform/clock.ts";
import { HttpBodyError, readJsonBody, sendJson } from "../../platform/http-json.ts";
import type { Logger } from "../../platform/logger.ts";
import { selectionId } from "../../protocol/catalog.ts";
import { kioskPageHtml } from "./kiosk-page.ts";
import { createQrMatrix, qrSvg } from "./qr.ts";
import type { Display, Screen } from "./screens.ts";

/**
 * The kiosk renderer: the current screen as a web page on loopback, pushed live over server-sent events.
 *
 * `createKioskHub` is the part that knows screens and clients; it answers requests relative to wherever it is mounted
 * (`/`, `/events`, `/screen`, `POST /select`, `POST /done`, `POST /cancel`), so the demo can mount one hub per machine under its own
 * path on one server. `startKioskServer` puts a hub on its own HTTP server, which is what the agent runs.
 */

/** What the customer did on the touch screen. The agent core turns it into `requestSelection` / a session end. */
export type KioskAction = { kind: "select"; selection: string } | { kind: "done" } | { kind: "cancel" };

export interface KioskHub {
  /** The Display the agent core drives. */
  readonly display: Display;
  /** Handles a request whose path (relative to the hub's mount point) is `path`; false when the path is not ours. */
  handle(request: IncomingMessage, response: ServerResponse, path: string): boolean;
  onAction(listener: (action: KioskAction) => void): () => void;
  readonly clientCount: number;
  /** Ends every event stream (before the HTTP server closes, which would otherwise wait for them). */
  closeClients(): void;
}

export interface KioskHubOptions {
  clock: Clock;
  logger: Logger;
  title?: string;
  /** Seconds between keep-alive comments on the event stream (proxies and idle timers drop silent streams). */
  keepAliveSeconds?: number;
}

const selectBody = z.strictObject({ selection: selectionId });
const maxBodyBytes = 1024;

export function createKioskHub(options: KioskHubOptions): KioskHub {
  const logger = options.logger.child({ module: "display.kiosk" });
  const page = kioskPageHtml(options.title === undefined ? {} : { title: options.title });
  const clients = new Set<ServerResponse>();
  const listeners = new Set<(action: KioskAction) => void>();
  const svgCache = new Map<string, string>();
  let current: Screen | undefined;
  let closed = false;

  const svgFor = (payload: string) => {
    let svg = svgCache.get(payload);
    if (!svg) {
      svg = qrSvg(createQrMatrix(payload));
      svgCache.set(payload, svg);
    }
    return svg;
  };

  const message = (screen: Screen) =>
    JSON.stringify({ screen, qrSvg: screen.qr ? svgFor(screen.qr.payload) : null, serverNow: options.clock.now() });

  const send = (client: ServerResponse, screen: Screen) => {
    client.write(`event: screen\ndata: ${message(screen)}\n\n`);
  };

  const keepAlive = setInterval(
    () => {
      for (const client of clients) client.write(": keep-alive\n\n");
    },
    (options.keepAliveSeconds ?? 15) * 1000,
  );
  keepAlive.unref();

  const emit = (action: KioskAction) => {
    for (const listener of listeners) {
      try {
        listener(action);
      } catch (error) {
        logger.error({ err: error, action }, "kiosk action listener failed");
      }
    }
  };

  const readJson = (request: IncomingMessage, response: ServerResponse, then: (body: unknown) => void) => {
    if (!/^application\/json\b/i.test(request.headers["content-type"] ?? "")) {
      sendJson(response, 415, { error: "content-type must be application/json" });
      request.resume();
      return;
    }
    readJsonBody(request, maxBodyBytes)
      .then(then)
      .catch((error: unknown) => {
        if (response.headersSent) return;
        sendJson(response, error instanceof HttpBodyError ? error.status : 400, { error: (error as Error).message });
      });
  };

  const handle = (request: IncomingMessage, response: ServerResponse, path: string): boolean => {
    const method = request.method ?? "GET";
    if (path === "/" || path === "/index.html") {
      if (method !== "GET" && method !== "HEAD") return methodNotAllowed(response, "GET");
      response.writeHead(200, {
        "content-type": "text/html; charset=utf-8",
        "cache-control": "no-store",
        "content-security-policy":
          "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; img-src data:",
        "x-content-type-options": "nosniff",
      });
      response.end(method === "HEAD" ? undefined : page);
      return true;
    }
    if (path === "/events") {
      if (method !== "GET") return methodNotAllowed(response, "GET");
      response.writeHead(200, {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-store",
        connection: "keep-alive",
      });
      // Reconnect fast after a restart of the agent: the page is the machine's only face.
      response.write("retry: 500\n\n");
      if (current) send(response, current);
      clients.add(response);
      request.on("close", () => clients.delete(response));
      return true;
    }
    if (path === "/screen") {
      if (method !== "GET") return methodNotAllowed(response, "GET");
      sendJson(response, 200, current ? JSON.parse(message(current)) : { screen: null });
      return true;
    }
    if (path === "/cancel") {
      if (method !== "POST") return methodNotAllowed(response, "POST");
      readJson(request, response, () => {
        // Only while the machine waits for the phone (or holds a selection for it): an unlocked session ends with Done.
        if (current?.name !== "payment-pending" && current?.name !== "pay-for-selection") {
          sendJson(response, 409, { error: `nothing to cancel on the ${current?.name ?? "blank"} screen` });
          return;
        }
        emit({ kind: "cancel" });
        sendJson(response, 202, { ok: true });
      });
      return true;
    }
    if (path === "/select" || path === "/done") {
      if (method !== "POST") return methodNotAllowed(response, "POST");
      readJson(request, response, (body) => {
        // Done ends a session; a selection needs a screen that offers products (choose-product, or the idle screen of
        // a simulated selection-first machine, whose keypad it stands for).
        const offers = path === "/done" ? current?.name === "choose-product" : (current?.products?.length ?? 0) > 0;
        if (!offers) {
          sendJson(response, 409, { error: `nothing to choose on the ${current?.name ?? "blank"} screen` });
          return;
        }
        if (path === "/done") {
          emit({ kind: "done" });
          sendJson(response, 202, { ok: true });
          return;
        }
        const parsed = selectBody.safeParse(body);
        if (!parsed.success) {
          sendJson(response, 400, { error: parsed.error.issues.map((issue) => issue.message).join("; ") });
          return;
        }
        const { selection } = parsed.data;
        if (!current?.products?.some((product) => product.selection === selection)) {
          sendJson(response, 409, { error: `selection ${selection} is not offered on this screen` });
          return;
        }
        emit({ kind: "select", selection });
        sendJson(response, 202, { ok: true });
      });
      return true;
    }
    return false;
  };

  return {
    display: {
      show: (screen) => {
        if (closed) return;
        current = screen;
        for (const client of clients) send(client, screen);
      },
      close: () => {
        closed = true;
        clearInterval(keepAlive);
      },
    },
    handle,
    onAction: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    get clientCount() {
      return clients.size;
    },
    closeClients: () => {
      for (const client of clients) client.end();
      clients.clear();
    },
  };
}

function methodNotAllowed(response: ServerResponse, allow: string): true {
  response.setHeader("allow", allow);
  sendJson(response, 405, { error: `use ${allow}` });
  return true;
}

export interface KioskServer {
  readonly url: string;
  readonly hub: KioskHub;
  readonly display: Display;
  close(): Promise<void>;
}

export interface KioskServerOptions extends KioskHubOptions {
  /** config display.kioskHost */
  host: string;
  /** config display.kioskPort; 0 picks a free port. */
  port: number;
}

export async function startKioskServer(options: KioskServerOptions): Promise<KioskServer> {
  const hub = createKioskHub(options);
  const server: Server = createServer((request, response) => {
    const path = new URL(request.url ?? "/", "http://kiosk").pathname;
    if (!hub.handle(request, response, path)) sendJson(response, 404, { error: `no ${path} here` });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}/`;
  options.logger.child({ module: "display.kiosk" }).info({ url }, "kiosk page served");
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= new Promise<void>((resolve) => {
      void hub.display.close();
      hub.closeClients();
      server.close(() => resolve());
      server.closeAllConnections();
    });
    return closing;
  };
  return {
    url,
    hub,
    display: { show: (screen) => hub.display.show(screen), close },
    close,
  };
}
