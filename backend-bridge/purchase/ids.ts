import { randomBytes } from "node:crypto";

/** A session id: short, unique, safe in MQTT payload ids and URLs. */
export function newSessionId(): string {
  return `s${randomBytes(12).toString("base64url")}`;
}

/** The secret part of a notification URL: 256 random bits, so the URL cannot be guessed. */
export function newNotifySecret(): string {
  return randomBytes(32).toString("base64url");
}

/** The unlock's command id is derived from the session: a resend after a restart is recognised as the same command. */
export function unlockCommandIdFor(sessionId: string): string {
  return `${sessionId}.unlock`;
}
