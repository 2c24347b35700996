/**
 * Masking of personal data and secrets before anything is printed. Used by the logger, by `config show` and by
 * error reports, so that a phone number or a password never appears in clear on a screen or in the journal.
 */

export const redactedMarker = "[redacted]";

/** Keeps the last two digits of a phone number so support can still match a complaint to a session. */
export function maskMsisdn(msisdn: unknown): string {
  const text = String(msisdn ?? "");
  const digits = text.replace(/\D/g, "");
  if (digits.length <= 2) return "*".repeat(digits.length);
  return `${"*".repeat(digits.length - 2)}${digits.slice(-2)}`;
}

/** Replaces the password of a URL with the marker (postgres://user:pw@host, mqtts://user:pw@host). */
export function redactUrlCredentials(value: string): string {
  try {
    const url = new URL(value);
    if (url.password) {
      url.password = "redacted";
      return url.toString().replace(":redacted@", `:${redactedMarker}@`);
    }
    return value;
  } catch {
    return value;
  }
}

/** Field names whose values are always secrets, wherever they appear in a log record. */
export const secretFieldNames = [
  "password",
  "passwd",
  "secret",
  "commandKey",
  "signingKey",
  "authorization",
  "cookie",
  "privateKey",
  "token_secret",
] as const;

/** Field names that carry a phone number. */
export const msisdnFieldNames = ["msisdn", "phone", "phoneNumber"] as const;
