import type { IncomingMessage, ServerResponse } from "node:http";

/**
 * The small JSON-over-HTTP pieces every local server here needs (kiosk, SEQR sandbox, demo): a request body read
 * with a size limit the caller chooses, and a JSON answer that no cache keeps.
 */

/** A request body the server refuses: `status` is the HTTP answer (413 too large, 400 not JSON). */
export class HttpBodyError extends Error {
  readonly status: 400 | 413;
  constructor(status: 400 | 413, message: string) {
    super(message);
    this.name = "HttpBodyError";
    this.status = status;
  }
}

/**
 * Reads the whole body as UTF-8, refusing one over `maxBytes` (declared or sent) with HttpBodyError(413).
 * A body that grows too large is cut off: the connection is destroyed, but only after the caller had the chance to
 * answer 413 (its answer is written in the microtasks that follow the rejection), so the client learns why.
 */
export function readBody(request: IncomingMessage, maxBytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const tooLarge = () => new HttpBodyError(413, `request body larger than ${maxBytes} bytes`);
    const declared = Number(request.headers["content-length"]);
    if (Number.isFinite(declared) && declared > maxBytes) {
      reject(tooLarge());
      request.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) {
        chunks.push(chunk);
        return;
      }
      request.off("data", onData);
      reject(tooLarge());
      setImmediate(() => request.destroy());
    };
    request.on("data", onData);
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    request.on("error", reject);
  });
}

/** Reads a JSON body (an empty body reads as `{}`); HttpBodyError(400) when it is not JSON, (413) when too large. */
export async function readJsonBody(request: IncomingMessage, maxBytes: number): Promise<unknown> {
  const text = await readBody(request, maxBytes);
  try {
    return JSON.parse(text === "" ? "{}" : text);
  } catch {
    throw new HttpBodyError(400, "the body is not JSON");
  }
}

export function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" });
  response.end(JSON.stringify(body));
}
