import { connect, type Socket } from "node:net";
import { describe, expect, it } from "vitest";
import { bridgeConfigSchema } from "../../config/schema/bridge.ts";
import { minimalTestBridgeConfig } from "../helpers/bridge-test-config.ts";
import { harnessPerTest } from "./helpers/harness.ts";

/**
 * Issue 18, "HTTP server limits that hold": slow-loris sockets (headers or body trickling in) are closed at the
 * configured timeouts, not at Node's 30-second connection check after them; connections are capped; keep-alive
 * sockets are bounded. Raw TCP sockets, so that nothing in a client library hides what the server does.
 */

const limits = { headersTimeoutMs: 2_000, requestTimeoutMs: 4_000, keepAliveTimeoutMs: 1_000 };
// Generous for a loaded CI machine, still far below the 30 s check interval Node applies by default.
const tolerance = 2_500;

interface OpenSocket {
  socket: Socket;
  /** Resolves with the ms from connect to close, and what the server sent before closing. */
  closed: Promise<{ afterMs: number; received: string }>;
}

function open(port: number): Promise<OpenSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port });
    let received = "";
    socket.on("data", (chunk) => {
      received += chunk.toString("latin1");
    });
    socket.once("error", () => undefined);
    socket.once("connect", () => {
      const at = Date.now();
      const closed = new Promise<{ afterMs: number; received: string }>((done) => {
        socket.once("close", () => done({ afterMs: Date.now() - at, received }));
      });
      resolve({ socket, closed });
    });
    socket.once("error", reject);
  });
}

/** Writes `chunks` one every `everyMs` while the socket is open. */
function trickle(socket: Socket, chunks: string[], everyMs: number): () => void {
  let index = 0;
  const timer = setInterval(() => {
    if (socket.destroyed || index >= chunks.length) return;
    socket.write(chunks[index++] ?? "");
  }, everyMs);
  return () => clearInterval(timer);
}

function portOf(url: string): number {
  return Number(new URL(url).port);
}

describe("HTTP server limits", () => {
  const start = harnessPerTest("sqlite");

  it("a socket sending its headers slowly is closed at http.headersTimeoutMs", async () => {
    const h = await start({ http: limits });
    const { socket, closed } = await open(portOf(h.app.http.url));
    socket.write("POST /seqr/createPurchase HTTP/1.1\r\nHost: bridge\r\n");
    const stop = trickle(
      socket,
      Array.from({ length: 200 }, (_, i) => `X-Slow-${i}: a\r\n`),
      200,
    );
    const { afterMs, received } = await closed;
    stop();
    expect(afterMs).toBeGreaterThanOrEqual(limits.headersTimeoutMs - 100);
    expect(afterMs).toBeLessThan(limits.headersTimeoutMs + tolerance);
    expect(received).toMatch(/^HTTP\/1\.1 408/);
    expect(h.seqr.calls).toHaveLength(0);
  }, 30_000);

  it("a socket that connects and sends nothing is closed at http.headersTimeoutMs", async () => {
    const h = await start({ http: limits });
    const { closed } = await open(portOf(h.app.http.url));
    const { afterMs } = await closed;
    expect(afterMs).toBeLessThan(limits.headersTimeoutMs + tolerance);
  }, 30_000);

  it("a socket sending its body slowly is closed at http.requestTimeoutMs", async () => {
    const h = await start({ http: limits });
    const { socket, closed } = await open(portOf(h.app.http.url));
    const body = JSON.stringify({ token: "M1", amount: 20, currency: "EUR", padding: "x".repeat(500) });
    socket.write(
      `POST /seqr/createPurchase HTTP/1.1\r\nHost: bridge\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
    );
    const stop = trickle(socket, body.split(""), 100);
    const { afterMs } = await closed;
    stop();
    expect(afterMs).toBeGreaterThanOrEqual(limits.requestTimeoutMs - 100);
    expect(afterMs).toBeLessThan(limits.requestTimeoutMs + tolerance);
    // The purchase never started: no invoice, the machine is free.
    expect(h.seqr.calls).toHaveLength(0);
    expect(await h.store.holderOf("M1")).toBeUndefined();
  }, 30_000);

  it("caps connections at http.maxConnections; a purchase goes through once they are gone", async () => {
    const h = await start({ http: { ...limits, maxConnections: 4 } });
    const port = portOf(h.app.http.url);
    const held = await Promise.all(Array.from({ length: 4 }, () => open(port)));
    // One over the cap: the server drops it at once, long before any timeout.
    const extra = await open(port);
    const { afterMs } = await extra.closed;
    expect(afterMs).toBeLessThan(limits.headersTimeoutMs);
    for (const { socket } of held) socket.destroy();
    await Promise.all(held.map(({ closed }) => closed));
    await expect
      .poll(async () => (await h.createPurchase({ token: "M1", amount: 20, currency: "EUR" })).json)
      .toEqual({
        invoiceReferenceId: expect.stringMatching(/^\d+$/),
      });
  }, 30_000);

  it("closes an idle keep-alive socket at http.keepAliveTimeoutMs and ends one after http.maxRequestsPerSocket", async () => {
    const h = await start({ http: { ...limits, maxRequestsPerSocket: 2 } });
    const port = portOf(h.app.http.url);
    const request = "GET /nothing-here HTTP/1.1\r\nHost: bridge\r\n\r\n";

    const idle = await open(port);
    idle.socket.write(request);
    const { afterMs, received } = await idle.closed;
    expect(received).toMatch(/^HTTP\/1\.1 404/);
    expect(afterMs).toBeLessThan(limits.keepAliveTimeoutMs + tolerance);

    const busy = await open(port);
    busy.socket.write(request + request);
    const { received: both } = await busy.closed;
    const answers = both.split(/(?=HTTP\/1\.1 )/);
    expect(answers).toHaveLength(2);
    expect(answers[1]).toMatch(/\r\nConnection: close\r\n/i);
  }, 30_000);
});

describe("HTTP limits in the configuration", () => {
  it("defaults to 10 s for headers, 30 s for the request, and refuses a request timeout below the headers'", () => {
    const config = bridgeConfigSchema.parse(minimalTestBridgeConfig());
    expect(config.http).toMatchObject({
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      keepAliveTimeoutMs: 5_000,
      maxConnections: 1_024,
      maxRequestsPerSocket: 100,
    });
    const wrong = bridgeConfigSchema.safeParse({
      ...minimalTestBridgeConfig(),
      http: {
        plainHttp: true,
        publicBaseUrl: "https://x.example/seqr",
        headersTimeoutMs: 20_000,
        requestTimeoutMs: 10_000,
      },
    });
    expect(wrong.error?.issues[0]?.path).toEqual(["http", "requestTimeoutMs"]);
  });
});
