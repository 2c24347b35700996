import { createServer, request as httpRequest, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { PassThrough } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { HttpBodyError, readBody, readJsonBody, sendJson } from "../../platform/http-json.ts";

/**
 * The request body limit holds for a chunked body too (no Content-Length to refuse up front): the server answers 413
 * while the client is still sending, so the body is never read whole.
 */

const maxBytes = 1_024;
const servers: Server[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function jsonServer(): Promise<{ port: number; bodies: unknown[] }> {
  const bodies: unknown[] = [];
  const server = createServer((request, response) => {
    readJsonBody(request, maxBytes).then(
      (body) => {
        bodies.push(body);
        sendJson(response, 200, { ok: true });
      },
      (error: unknown) => sendJson(response, error instanceof HttpBodyError ? error.status : 500, { error: "refused" }),
    );
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as AddressInfo).port, bodies };
}

/**
 * Streams a chunked body of 512-byte pieces until the server answers (or 10 s pass, then ends it); resolves with the
 * status and whether the client was still sending when the answer came.
 */
function streamUntilAnswered(port: number): Promise<{ status: number; answeredWhileSending: boolean; sent: number }> {
  return new Promise((resolve, reject) => {
    let answered = false;
    let ended = false;
    let sent = 0;
    const request = httpRequest({
      host: "127.0.0.1",
      port,
      method: "POST",
      path: "/",
      headers: { "content-type": "application/json", "transfer-encoding": "chunked" },
    });
    request.on("response", (response) => {
      answered = true;
      const answeredWhileSending = !ended;
      response.resume();
      resolve({ status: response.statusCode ?? 0, answeredWhileSending, sent });
    });
    // The server cuts the connection after its 413: writes after that fail, which is expected.
    request.on("error", (error) => {
      if (!answered) reject(error);
    });
    const deadline = Date.now() + 10_000;
    const piece = Buffer.from(`"${"x".repeat(510)}"`.slice(0, 512));
    request.write("[");
    const pump = () => {
      if (answered || request.destroyed) return;
      if (Date.now() > deadline) {
        ended = true;
        request.end("]");
        return;
      }
      sent += piece.length;
      request.write(piece);
      request.write(",");
      setTimeout(pump, 2);
    };
    pump();
  });
}

describe("readJsonBody", () => {
  it("refuses a chunked body over the limit with 413 while it is still being sent", async () => {
    const { port, bodies } = await jsonServer();
    const result = await streamUntilAnswered(port);
    expect(result.status).toBe(413);
    expect(result.answeredWhileSending, `answered after ${result.sent} bytes`).toBe(true);
    expect(bodies).toEqual([]);
  });

  it("reads a chunked body within the limit", async () => {
    const { port, bodies } = await jsonServer();
    const status = await new Promise<number>((resolve, reject) => {
      const request = httpRequest(
        { host: "127.0.0.1", port, method: "POST", path: "/", headers: { "transfer-encoding": "chunked" } },
        (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        },
      );
      request.on("error", reject);
      request.write('{"selection":');
      request.end('"A1"}');
    });
    expect(status).toBe(200);
    expect(bodies).toEqual([{ selection: "A1" }]);
  });

  it("refuses a declared Content-Length over the limit without reading the body", async () => {
    const { port, bodies } = await jsonServer();
    const status = await new Promise<number>((resolve, reject) => {
      const request = httpRequest(
        { host: "127.0.0.1", port, method: "POST", path: "/", headers: { "content-length": String(maxBytes + 1) } },
        (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        },
      );
      request.on("error", (error) => reject(error));
      request.write("{"); // the rest never comes: the answer must not wait for it
    });
    expect(status).toBe(413);
    expect(bodies).toEqual([]);
  });
});

/** A request as readBody sees it: a stream with headers, fed the given chunks. */
function fakeRequest(headers: Record<string, string>, chunks: string[], end = true) {
  const stream = Object.assign(new PassThrough(), { headers });
  for (const chunk of chunks) stream.write(chunk);
  if (end) stream.end();
  return stream as unknown as IncomingMessage & PassThrough;
}

describe("readBody at the limit", () => {
  it("reads a body of exactly the limit, declared or not, and a declared length below it", async () => {
    const exact = "x".repeat(maxBytes);
    expect(await readBody(fakeRequest({ "content-length": String(maxBytes) }, [exact]), maxBytes)).toBe(exact);
    expect(await readBody(fakeRequest({}, [exact.slice(0, 1_000), exact.slice(1_000)]), maxBytes)).toBe(exact);
    expect(await readBody(fakeRequest({ "content-length": "5" }, ["hello"]), maxBytes)).toBe("hello");
    expect(await readBody(fakeRequest({ "content-length": "junk" }, ["hello"]), maxBytes)).toBe("hello");
  });

  it("refuses one byte more, sent in pieces, with 413, and cuts the connection", async () => {
    const request = fakeRequest({}, ["x".repeat(maxBytes), "y"], false);
    const refused = await readBody(request, maxBytes).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(HttpBodyError);
    expect(refused).toMatchObject({
      name: "HttpBodyError",
      status: 413,
      message: `request body larger than ${maxBytes} bytes`,
    });
    await new Promise((resolve) => request.once("close", resolve));
    expect(request.destroyed).toBe(true);
  });

  it("refuses a declared length one byte over the limit", async () => {
    const request = fakeRequest({ "content-length": String(maxBytes + 1) }, [], false);
    await expect(readBody(request, maxBytes)).rejects.toMatchObject({ status: 413 });
  });

  it("passes a stream error on", async () => {
    const request = fakeRequest({}, ["{"], false);
    const reading = readBody(request, maxBytes);
    request.destroy(new Error("connection reset"));
    await expect(reading).rejects.toThrow("connection reset");
  });
});

describe("readJsonBody and sendJson", () => {
  it("reads an empty body as {} and refuses text that is not JSON with 400", async () => {
    expect(await readJsonBody(fakeRequest({}, []), maxBytes)).toEqual({});
    await expect(readJsonBody(fakeRequest({}, ["{nope"]), maxBytes)).rejects.toMatchObject({
      name: "HttpBodyError",
      status: 400,
      message: "the body is not JSON",
    });
  });

  it("answers JSON that no cache keeps", async () => {
    const { port } = await jsonServer();
    const response = await fetch(`http://127.0.0.1:${port}/`, { method: "POST", body: "{}" });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(await response.json()).toEqual({ ok: true });
  });
});
