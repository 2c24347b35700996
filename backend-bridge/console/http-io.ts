import type { IncomingMessage, ServerResponse } from "node:http";
import type { Html } from "./html.ts";

/**
 * Every console response: no caching, no framing by another site, no sniffing, and a Content-Security-Policy that
 * allows nothing but the bridge's own style sheet and forms posting back to it (no script at all).
 */
export const securityHeaders = {
  "Content-Security-Policy":
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "X-Content-Type-Options": "nosniff",
  "X-Frame-Options": "DENY",
  "Referrer-Policy": "same-origin",
  "Cache-Control": "no-store",
} as const;

export function sendHtml(
  response: ServerResponse,
  status: number,
  body: Html,
  headers: Record<string, string> = {},
): void {
  send(response, status, "text/html;charset=UTF-8", body.text, headers);
}

export function send(
  response: ServerResponse,
  status: number,
  contentType: string,
  body: string,
  headers: Record<string, string> = {},
): void {
  response.writeHead(status, {
    ...securityHeaders,
    "Content-Type": contentType,
    "Content-Length": Buffer.byteLength(body),
    ...headers,
  });
  response.end(body);
}

/** 303 See Other: after a POST the browser GETs the target. */
export function redirect(response: ServerResponse, location: string, headers: Record<string, string> = {}): void {
  response.writeHead(303, { ...securityHeaders, Location: location, "Content-Length": 0, ...headers });
  response.end();
}

export class BodyTooLarge extends Error {}

const maxFormBytes = 16 * 1024;

/** An application/x-www-form-urlencoded body, at most 16 KiB; anything else is an empty form. */
export async function readForm(request: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > maxFormBytes) throw new BodyTooLarge();
    chunks.push(chunk as Buffer);
  }
  const type = (request.headers["content-type"] ?? "").split(";")[0]?.trim();
  if (type !== "application/x-www-form-urlencoded") return new URLSearchParams();
  return new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
}
