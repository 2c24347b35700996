import { z } from "zod";
import { isSupportedCurrency } from "../../platform/money.ts";

/**
 * What a sandbox knows: its terminals and reseller users (SEQR's start-up kit), its customers (phone + PIN), where the
 * UPS side posts createPurchase, and the timing rules. Defaults give a working sandbox with SEQR's public test
 * credentials, so `vend-bridge sandbox` needs no file.
 */

const currency = z.string().refine(isSupportedCurrency, { message: "must be a supported ISO 4217 currency" });

export const sandboxTerminal = z.strictObject({
  id: z.string().min(1).max(64),
  password: z.string().min(1),
  /** Invoices in another currency are refused with 49, as SEQR refuses a currency the merchant account lacks. */
  currency: currency.default("EUR"),
  name: z.string().default("Sandbox shop"),
  /** A registerTerminal-made "cash register" keeps one open invoice: a new sendInvoice cancels the previous one. */
  singleOpenInvoice: z.boolean().default(false),
});

export const sandboxResellerUser = z.strictObject({
  id: z.string().min(1),
  userId: z.string().min(1),
  password: z.string().min(1),
});

export const sandboxCustomer = z.strictObject({
  msisdn: z.string().regex(/^\d{6,15}$/, "digits only, as UPS sends it"),
  pin: z.string().regex(/^\d{4,6}$/),
  name: z.string().optional(),
});

/** UPS: "URL has to be HTTPS and end with createPurchase"; plain http is allowed here for local resellers. */
const createPurchaseUrl = z
  .url({ protocol: /^https?$/ })
  .refine((value) => new URL(value).pathname.endsWith("createPurchase"), {
    message: "must end with createPurchase (UPS rule)",
  });

export const sandboxOptionsSchema = z.strictObject({
  host: z.string().default("127.0.0.1"),
  port: z.number().int().min(0).max(65535).default(0),
  terminals: z
    .array(sandboxTerminal)
    .min(1)
    .prefault([{ id: "public_test_shop_terminal", password: "12345678" }]),
  resellerUsers: z.array(sandboxResellerUser).default([{ id: "public_test_shop", userId: "9900", password: "1234" }]),
  customers: z.array(sandboxCustomer).default([{ msisdn: "46700000001", pin: "1234", name: "Test customer" }]),
  /** PIN of a customer not listed (any phone number may use the sandbox); null = unlisted customers are refused. */
  defaultPin: z
    .string()
    .regex(/^\d{4,6}$/)
    .nullable()
    .default("1234"),
  /** The 20-second rule: a confirmed payment whose status is not fetched within this time is reversed. */
  ackDeadlineMs: z.number().int().positive().default(20_000),
  /** Commit window when an invoice in a reservation mode gives no commitReservationTimeout of its own. */
  defaultCommitReservationTimeoutSeconds: z.number().int().positive().default(1_800),
  /** When the notificationUrl is called: SEED says on confirm and on cancel; SEQR's FAQ says on payment only. */
  notifyOn: z.array(z.enum(["confirm", "cancel", "reversal", "expiry"])).default(["confirm", "cancel"]),
  notificationTimeoutMs: z.number().int().positive().default(5_000),
  /** Refuse notification URLs that are not https (UPS's rule); off by default so local resellers work. */
  requireHttpsNotificationUrl: z.boolean().default(false),
  ups: z
    .strictObject({
      /** The reseller's createPurchase URL for every merchant id not listed in `merchants`. */
      createPurchaseUrl: createPurchaseUrl.optional(),
      merchants: z.record(z.string(), createPurchaseUrl).default({}),
      /** seed: {token, amount (number)}; ups-2018: {reservationToken, reservationAmount (string)}. */
      bodyShape: z.enum(["seed", "ups-2018"]).default("seed"),
      timeoutMs: z.number().int().positive().default(10_000),
      defaultAmount: z
        .strictObject({ minor: z.number().int().positive(), currency })
        .default({ minor: 2_000, currency: "EUR" }),
    })
    .prefault({}),
  /** Largest SOAP or JSON request accepted, bytes. */
  maxRequestBytes: z.number().int().positive().default(1_048_576),
});

export type SandboxOptions = z.infer<typeof sandboxOptionsSchema>;
export type SandboxOptionsInput = z.input<typeof sandboxOptionsSchema>;
export type SandboxTerminal = z.infer<typeof sandboxTerminal>;
