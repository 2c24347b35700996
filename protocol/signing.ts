import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * HMAC-SHA256 signatures on every command (`unlock`, `config`, `cancel`, `ack`, `ping`, `payment-pending`), with the
 * machine's own key, so that neither the broker nor a client with the wrong rights can unlock a machine, change its
 * prices, end a paid session or make it drop unacknowledged events. The signed text binds the machine id and the
 * command name, so a signature cannot be replayed on another machine or as another command; the command's own id and
 * expiry are inside the payload and so inside the signature.
 */

/** JSON with keys sorted at every level: the same object always gives the same bytes. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, child]) => child !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([key, child]) => `${JSON.stringify(key)}:${canonicalJson(child)}`).join(",")}}`;
}

function signedText(machineId: string, commandName: string, payload: Record<string, unknown>): string {
  const { signature: _ignored, ...rest } = payload;
  return `seqr-vend/v1\n${machineId}\n${commandName}\n${canonicalJson(rest)}`;
}

export function signCommand(
  keyHex: string,
  machineId: string,
  commandName: string,
  payload: Record<string, unknown>,
): string {
  return createHmac("sha256", Buffer.from(keyHex, "hex"))
    .update(signedText(machineId, commandName, payload))
    .digest("hex");
}

export function verifyCommandSignature(
  keyHex: string,
  machineId: string,
  commandName: string,
  payload: Record<string, unknown> & { signature?: unknown },
): boolean {
  if (typeof payload.signature !== "string" || !/^[0-9a-f]{64}$/.test(payload.signature)) return false;
  const expected = Buffer.from(signCommand(keyHex, machineId, commandName, payload), "hex");
  const given = Buffer.from(payload.signature, "hex");
  // All 32 bytes, in constant time: a prefix compare would let a forger guess the signature a byte at a time.
  return expected.length === given.length && timingSafeEqual(expected, given);
}
