import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { TLSSocket } from "node:tls";
import type { BridgeConfig } from "../../config/schema/bridge.ts";

/**
 * Authentication of the createPurchase caller. SEQR documents none, so it is configurable: none (a reverse proxy
 * does it), HTTP basic auth, or a client certificate signed by `http.caFile` whose CN is in the allowed list.
 */
export type CallerCheck = { ok: true; caller: string } | { ok: false; status: 401 | 403; reason: string };

function sameSecret(a: string, b: string): boolean {
  // Equal-length digests: timingSafeEqual never reveals the length or a prefix of the secret.
  return timingSafeEqual(createHash("sha256").update(a).digest(), createHash("sha256").update(b).digest());
}

export function checkCaller(request: IncomingMessage, auth: BridgeConfig["callerAuth"]): CallerCheck {
  // Who the caller is, for the rate limits: the authenticated name, or "anonymous" (then only the address tells).
  if (auth.mode === "none") return { ok: true, caller: "anonymous" };
  if (auth.mode === "basic") {
    const header = request.headers.authorization ?? "";
    const match = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(header.trim());
    if (!match?.[1]) return { ok: false, status: 401, reason: "basic credentials required" };
    const decoded = Buffer.from(match[1], "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    const user = colon < 0 ? decoded : decoded.slice(0, colon);
    const password = colon < 0 ? "" : decoded.slice(colon + 1);
    const userOk = sameSecret(user, auth.username ?? "");
    const passwordOk = sameSecret(password, auth.password ?? "");
    return userOk && passwordOk && auth.password !== undefined
      ? { ok: true, caller: `basic:${user}` }
      : { ok: false, status: 401, reason: "wrong basic credentials" };
  }
  const socket = request.socket as TLSSocket;
  if (typeof socket.getPeerCertificate !== "function" || !socket.authorized) {
    return { ok: false, status: 403, reason: "a client certificate signed by http.caFile is required" };
  }
  const commonName = socket.getPeerCertificate().subject?.CN;
  const cn = Array.isArray(commonName) ? commonName[0] : commonName;
  if (auth.allowedCertificateCns.length > 0 && (cn === undefined || !auth.allowedCertificateCns.includes(cn))) {
    return { ok: false, status: 403, reason: `client certificate CN ${JSON.stringify(cn)} is not allowed` };
  }
  return { ok: true, caller: `certificate:${cn ?? ""}` };
}
