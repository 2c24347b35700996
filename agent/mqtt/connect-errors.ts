/**
 * Turns a failed MQTT connection into a sentence a technician can act on (z2m users asked for exactly this: #8956).
 * MQTT 3.1.1 CONNACK return codes are mapped here because MQTT.js words them with the MQTT 5 table.
 */

const connackReasons: Record<number, string> = {
  1: "the broker refused the protocol version (MQTT 3.1.1 expected)",
  2: "the broker refused the client id",
  3: "the broker is unavailable (CONNACK 3)",
  4: "bad username or password (CONNACK 4): check mqtt.username / mqtt.password against the broker's entry for this machine",
  5: "not authorized (CONNACK 5): the broker knows these credentials but does not allow this machine to connect",
  134: "bad username or password (reason 134)",
  135: "not authorized (reason 135)",
};

const tlsHints: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: "the broker's certificate is self-signed: give its CA in mqtt.caFile",
  SELF_SIGNED_CERT_IN_CHAIN: "the broker's certificate chain ends in an unknown CA: give that CA in mqtt.caFile",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "the broker's certificate is not signed by a CA we trust: check mqtt.caFile",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "the CA of the broker's certificate is unknown: check mqtt.caFile",
  CERT_HAS_EXPIRED: "the broker's certificate has expired (or this machine's clock is wrong)",
  CERT_NOT_YET_VALID: "the broker's certificate is not valid yet (is this machine's clock right?)",
  ERR_TLS_CERT_ALTNAME_INVALID: "the broker's certificate does not name the host in mqtt.url",
};

export function describeConnectError(error: unknown, brokerUrl: string): string {
  const err = error as { code?: unknown; message?: string; hostname?: string };
  const code = err?.code;
  if (typeof code === "number") return connackReasons[code] ?? `the broker refused the connection (CONNACK ${code})`;
  if (typeof code === "string") {
    if (code === "ENOTFOUND" || code === "EAI_AGAIN") {
      return `cannot resolve the broker's host name (${code}) in ${brokerUrl}: DNS or network down`;
    }
    if (code === "ECONNREFUSED") return `nothing listens at ${brokerUrl} (connection refused)`;
    if (code === "ETIMEDOUT" || code === "EHOSTUNREACH" || code === "ENETUNREACH") {
      return `cannot reach ${brokerUrl} (${code}): network or firewall`;
    }
    if (code === "ECONNRESET" || code === "EPIPE") return `the broker closed the connection (${code})`;
    const tls = tlsHints[code];
    if (tls) return `TLS: ${tls} (${code})`;
    if (code.startsWith("ERR_SSL") || code.startsWith("ERR_TLS") || code.includes("CERT")) {
      return `TLS handshake failed (${code}): ${err.message ?? ""}`.trim();
    }
    return `${err.message ?? "connection failed"} (${code})`;
  }
  return err?.message ?? String(error);
}
