import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import type { Clock } from "../../platform/clock.ts";

/**
 * One SOAP POST over node:http(s) with keep-alive, a hard deadline for the whole exchange (connect, send, headers and
 * body) and a cap on the response size, so that a slow, endless or huge answer ends in a typed error, never a hang.
 * The deadline runs on the injected clock so tests can drive it with fake timers.
 */

export interface HttpAnswer {
  status: number;
  body: string;
}

export class HttpDeadlineExceeded extends Error {}
export class HttpBodyTooLarge extends Error {}
/** The connection failed or closed before the answer was complete. */
export class HttpConnectionFailed extends Error {}

export interface SoapTransport {
  post(body: string, options: { timeoutMs: number; maxResponseBytes: number }): Promise<HttpAnswer>;
  close(): void;
}

export function createHttpTransport(
  endpointUrl: string,
  clock: Clock,
  headers: Record<string, string>,
  maxSockets = 16,
): SoapTransport {
  const url = new URL(endpointUrl);
  const secure = url.protocol === "https:";
  if (!secure && url.protocol !== "http:") throw new RangeError(`SEQR endpoint must be http(s): ${url.protocol}`);
  const agent = secure
    ? new HttpsAgent({ keepAlive: true, maxSockets })
    : new HttpAgent({ keepAlive: true, maxSockets });
  const send = secure ? httpsRequest : httpRequest;

  return {
    post(body, { timeoutMs, maxResponseBytes }) {
      return new Promise<HttpAnswer>((resolve, reject) => {
        let settled = false;
        const finish = (error: Error | undefined, answer?: HttpAnswer) => {
          if (settled) return;
          settled = true;
          clock.clearTimeout(timer);
          if (error) {
            request.destroy();
            reject(error);
          } else {
            resolve(answer!);
          }
        };
        const payload = Buffer.from(body, "utf8");
        const request = send(url, {
          method: "POST",
          agent,
          headers: { ...headers, "content-length": String(payload.length) },
        });
        const timer = clock.setTimeout(
          () => finish(new HttpDeadlineExceeded(`no complete answer within ${timeoutMs} ms`)),
          timeoutMs,
        );
        request.on("error", (error) => finish(new HttpConnectionFailed(error.message, { cause: error })));
        request.on("response", (response: IncomingMessage) => {
          const declared = Number(response.headers["content-length"]);
          if (Number.isFinite(declared) && declared > maxResponseBytes) {
            finish(new HttpBodyTooLarge(`declared body of ${declared} bytes exceeds ${maxResponseBytes}`));
            return;
          }
          const chunks: Buffer[] = [];
          let size = 0;
          response.on("data", (chunk: Buffer) => {
            size += chunk.length;
            if (size > maxResponseBytes) {
              finish(new HttpBodyTooLarge(`body exceeds ${maxResponseBytes} bytes`));
              return;
            }
            chunks.push(chunk);
          });
          response.on("end", () => {
            // "end" after "aborted" is not a complete body: Node marks that with `complete === false`.
            if (!response.complete) {
              finish(new HttpConnectionFailed("the connection closed in the middle of the answer"));
              return;
            }
            finish(undefined, { status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") });
          });
          response.on("error", (error) =>
            finish(new HttpConnectionFailed(`answer cut off: ${error.message}`, { cause: error })),
          );
          response.on("aborted", () =>
            finish(new HttpConnectionFailed("the connection closed in the middle of the answer")),
          );
        });
        request.end(payload);
      });
    },
    close() {
      agent.destroy();
    },
  };
}
