import { type AnyCommand, commandSchemas, decodePayload, isCommandName } from "../../protocol/messages.ts";
import { verifyCommandSignature } from "../../protocol/signing.ts";

/**
 * Checks one command as it arrives on `<root>/<machineId>/cmd/<name>`, in the order that reveals least to a sender
 * without rights: known name, schema, signature (every command: a forged ack, cancel or config moves money too),
 * replay, time window. Pure: the caller passes the
 * clock reading and the memory of seen command ids.
 */

export type RejectReason = "invalid" | "bad-signature" | "expired" | "replayed";

export type CommandCheck =
  | { ok: true; command: AnyCommand }
  | {
      ok: false;
      reason: RejectReason;
      detail: string;
      /** Echoed in the command-rejected event when the payload had a readable one. */
      commandId: string | null;
      sessionId: string | null;
      /** Remember this commandId as seen (only for well-formed, authentic commands). */
      remember?: { commandId: string; expiresAt: number };
    };

export interface CommandCheckContext {
  machineId: string;
  commandKeyHex: string;
  now: number;
  /** A command issued further than this in the future is refused (a wrong clock or a forged time). */
  maxFutureSkewMs: number;
  wasSeen(commandId: string): boolean;
}

export function checkCommand(name: string, raw: Buffer | string, context: CommandCheckContext): CommandCheck {
  const loose = peekIds(raw);
  if (!isCommandName(name)) {
    return { ok: false, reason: "invalid", detail: `unknown command '${name.slice(0, 40)}'`, ...loose };
  }
  const decoded = decodePayload(commandSchemas[name], raw);
  if (!decoded.ok) return { ok: false, reason: "invalid", detail: decoded.error.slice(0, 300), ...loose };
  const payload = decoded.value as Record<string, unknown> & { commandId: string; issuedAt: number; expiresAt: number };
  const ids = {
    commandId: payload.commandId,
    sessionId: typeof payload.sessionId === "string" ? payload.sessionId : null,
  };
  if (!verifyCommandSignature(context.commandKeyHex, context.machineId, name, payload)) {
    return { ok: false, reason: "bad-signature", detail: `the ${name} signature does not verify`, ...ids };
  }
  // Replay before expiry: a late duplicate of a command already acted on must read "replayed" (it was done), not
  // "expired" (which a backend reads as "will not happen").
  if (context.wasSeen(payload.commandId)) {
    return { ok: false, reason: "replayed", detail: `commandId ${payload.commandId} was already received`, ...ids };
  }
  const remember = { commandId: payload.commandId, expiresAt: payload.expiresAt };
  if (payload.expiresAt <= context.now) {
    return {
      ok: false,
      reason: "expired",
      detail: `expired ${context.now - payload.expiresAt} ms ago`,
      ...ids,
    };
  }
  if (payload.issuedAt > context.now + context.maxFutureSkewMs) {
    return {
      ok: false,
      reason: "invalid",
      detail: `issued ${payload.issuedAt - context.now} ms in the future (clock skew above ${context.maxFutureSkewMs} ms)`,
      ...ids,
      remember,
    };
  }
  if (payload.expiresAt < payload.issuedAt) {
    return { ok: false, reason: "invalid", detail: "expiresAt is before issuedAt", ...ids, remember };
  }
  return { ok: true, command: { name, payload } as AnyCommand };
}

/** Best-effort ids from a payload that may not pass the schema, for the command-rejected event. */
function peekIds(raw: Buffer | string): { commandId: string | null; sessionId: string | null } {
  try {
    const value = JSON.parse(raw.toString()) as Record<string, unknown>;
    const pick = (key: string) => {
      const candidate = value?.[key];
      return typeof candidate === "string" && /^[A-Za-z0-9._:-]{1,64}$/.test(candidate) ? candidate : null;
    };
    return { commandId: pick("commandId"), sessionId: pick("sessionId") };
  } catch {
    return { commandId: null, sessionId: null };
  }
}
