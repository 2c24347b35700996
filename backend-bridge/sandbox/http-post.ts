import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";

/**
 * The sandbox's outgoing HTTP (notifications, createPurchase): one POST on node:http(s), a socket timeout (node's
 * own timers, so fake timers in tests do not freeze it) and a cap on the answer's size.
 */
export function postBody(
  url: string,
  body: string,
  headers: Record<string, string>,
  options: { timeoutMs: number; maxResponseBytes?: number },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const send = target.protocol === "https:" ? httpsRequest : httpRequest;
    const payload = Buffer.from(body, "utf8");
    const limit = options.maxResponseBytes ?? 65_536;
    const request = send(
      target,
      { method: "POST", headers: { ...headers, "content-length": String(payload.length) } },
      (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > limit) request.destroy(new Error(`answer larger than ${limit} bytes`));
          else chunks.push(chunk);
        });
        response.on("end", () =>
          resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
        );
        response.on("error", reject);
      },
    );
    request.setTimeout(options.timeoutMs, () => request.destroy(new Error(`no answer within ${options.timeoutMs} ms`)));
    request.on("error", reject);
    request.end(payload);
  });
}
