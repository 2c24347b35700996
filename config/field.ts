import { z } from "zod";

/**
 * Metadata every configuration key carries: a description (shown by `config check`, `config show` and the generated
 * reference) and whether the value is a secret (redacted everywhere, readable from a secret file).
 */
export interface FieldMeta {
  description: string;
  secret?: boolean;
}

/** Attaches a description (and the secret flag) to a schema. Call it last, after `.default()`/`.optional()`. */
export function field<T extends z.ZodType>(schema: T, description: string, options: { secret?: boolean } = {}): T {
  return schema.meta({ description, ...(options.secret ? { secret: true } : {}) }) as T;
}

export function fieldMeta(schema: z.ZodType): Partial<FieldMeta> {
  const meta = z.globalRegistry.get(schema) as Partial<FieldMeta> | undefined;
  return meta ?? {};
}

/** A URL whose scheme is one of `protocols` (e.g. ["mqtt:", "mqtts:"]). */
export function urlWithScheme(protocols: readonly string[]) {
  return z.string().refine(
    (value) => {
      try {
        return protocols.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be a URL starting with ${protocols.map((p) => `${p}//`).join(" or ")}` },
  );
}

/** An identifier safe in an MQTT topic level and a QR code (SEQR's purchaseToken rule): no `+`, `#`, `/`. */
export const tokenId = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,32}$/, "must be 1-32 characters of A-Z, a-z, 0-9, '.', '_' or '-'");
