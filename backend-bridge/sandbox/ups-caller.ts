import { z } from "zod";
import type { Clock } from "../../platform/clock.ts";
import type { Logger } from "../../platform/logger.ts";
import { formatMinor } from "../../platform/money.ts";
import { redactUrlCredentials } from "../../platform/redact.ts";
import type { Money } from "../seqr/seqr-api.ts";
import { postBody } from "./http-post.ts";
import { type InvoiceLedger, SeqrFailure } from "./invoice-ledger.ts";
import type { SandboxOptions } from "./sandbox-options.ts";

/**
 * SEQR's Unattended Payments Service as the customer's scan sets it off (seqr-protocol.md §1-§3): read the machine's
 * QR code, POST createPurchase {token, amount, currency, msisdn} to the reseller's URL for that merchant, and report
 * the answer: the invoice reference (which the app then shows to this customer) or the reseller's errorCode.
 */

/** `HTTP://SEQR.SE/000/ups?w=<merchantId>&t=<token>`, and the app deep-link forms of it. Case as printed. */
const upsQrPattern =
  /^(?:HTTP|SEQR|SEQR-DEMO|SEQR-DEBUG):\/\/SEQR\.SE\/000\/ups\?w=([A-Za-z0-9._-]+)&t=([A-Za-z0-9._-]+)$/;

export function parseUpsQr(text: string): { merchantId: string; token: string } | undefined {
  const match = upsQrPattern.exec(text.trim());
  return match ? { merchantId: match[1]!, token: match[2]! } : undefined;
}

export const upsErrorCodes = [
  "INSUFFICIENT_FUNDS",
  "DEVICE_IN_USE",
  "DEVICE_UNAVAILABLE",
  "INVOICING_ERROR",
  "SYSTEM_ERROR",
] as const;

const answerSchema = z.union([
  z.object({ invoiceReferenceId: z.union([z.string().min(1), z.number().int().nonnegative()]) }),
  z.object({ errorCode: z.string().min(1) }),
]);

export type UpsOutcome = {
  merchantId: string;
  token: string;
  amount: Money;
  url: string;
  at: number;
} & (
  | { kind: "invoice"; invoiceReferenceId: string; invoiceKnown: boolean; note?: string }
  | { kind: "error-code"; errorCode: string; documented: boolean }
  | { kind: "failed"; reason: string; httpStatus?: number }
);

export class UpsScanError extends Error {}

export class UpsCaller {
  private readonly settings: SandboxOptions["ups"];
  private readonly ledger: InvoiceLedger;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly log: UpsOutcome[] = [];

  constructor(settings: SandboxOptions["ups"], ledger: InvoiceLedger, clock: Clock, logger: Logger) {
    this.settings = settings;
    this.ledger = ledger;
    this.clock = clock;
    this.logger = logger;
  }

  /** The reseller URL for a merchant id, or undefined when the sandbox has none configured. */
  createPurchaseUrl(merchantId: string): string | undefined {
    return this.settings.merchants[merchantId] ?? this.settings.createPurchaseUrl;
  }

  /** Throws UpsScanError when the scan cannot start (not a UPS code, unknown merchant); HTTP outcomes are returned. */
  async scan(scan: { qr: string; msisdn: string; amount?: Money }): Promise<UpsOutcome> {
    const parsed = parseUpsQr(scan.qr);
    if (!parsed) throw new UpsScanError(`not a UPS code: expected HTTP://SEQR.SE/000/ups?w=<merchantId>&t=<token>`);
    if (!/^\d{6,15}$/.test(scan.msisdn)) throw new UpsScanError("msisdn must be 6-15 digits");
    const url = this.createPurchaseUrl(parsed.merchantId);
    if (!url) throw new UpsScanError(`no createPurchase URL configured for merchant ${parsed.merchantId}`);
    const amount = scan.amount ?? this.settings.defaultAmount;
    // The URL may carry the caller's basic-auth credentials (user:password@host): kept out of the history page.
    const base = { ...parsed, amount, url: redactUrlCredentials(url), at: this.clock.now() };
    const decimal = formatMinor(amount.minor, amount.currency);
    // The seed's shape writes the amount as a JSON number with two decimals ("amount": 20.00), hence by hand.
    const body =
      this.settings.bodyShape === "seed"
        ? `{"token":${JSON.stringify(parsed.token)},"amount":${decimal},"currency":${JSON.stringify(amount.currency)},"msisdn":${JSON.stringify(scan.msisdn)}}`
        : JSON.stringify({
            reservationToken: parsed.token,
            reservationAmount: decimal,
            currency: amount.currency,
            msisdn: scan.msisdn,
          });
    let outcome: UpsOutcome;
    try {
      const answer = await postBody(
        url,
        body,
        { accept: "application/json", "content-type": "application/json;charset=UTF-8" },
        { timeoutMs: this.settings.timeoutMs },
      );
      outcome = this.interpret(base, answer, scan.msisdn);
    } catch (error) {
      outcome = { ...base, kind: "failed", reason: (error as Error).message };
    }
    this.log.push(outcome);
    if (this.log.length > 1_000) this.log.shift();
    this.logger.info(
      { merchantId: parsed.merchantId, token: parsed.token, kind: outcome.kind },
      "UPS createPurchase answered",
    );
    return outcome;
  }

  history(): UpsOutcome[] {
    return [...this.log];
  }

  private interpret(
    base: Omit<UpsOutcome, "kind">,
    answer: { status: number; body: string },
    msisdn: string,
  ): UpsOutcome {
    if (answer.status !== 200) {
      return { ...base, kind: "failed", reason: `HTTP ${answer.status} (UPS expects 200)`, httpStatus: answer.status };
    }
    let json: unknown;
    try {
      json = JSON.parse(answer.body);
    } catch {
      return { ...base, kind: "failed", reason: "the answer is not JSON", httpStatus: 200 };
    }
    const parsed = answerSchema.safeParse(json);
    if (!parsed.success) {
      return {
        ...base,
        kind: "failed",
        reason: "neither invoiceReferenceId nor errorCode in the answer",
        httpStatus: 200,
      };
    }
    if ("errorCode" in parsed.data) {
      const { errorCode } = parsed.data;
      return {
        ...base,
        kind: "error-code",
        errorCode,
        documented: (upsErrorCodes as readonly string[]).includes(errorCode),
      };
    }
    const invoiceReferenceId = String(parsed.data.invoiceReferenceId);
    if (!this.ledger.get(invoiceReferenceId)) {
      return {
        ...base,
        kind: "invoice",
        invoiceReferenceId,
        invoiceKnown: false,
        note: "no such invoice in this sandbox",
      };
    }
    try {
      this.ledger.attachCustomer(invoiceReferenceId, msisdn);
      return { ...base, kind: "invoice", invoiceReferenceId, invoiceKnown: true };
    } catch (error) {
      const note = error instanceof SeqrFailure ? error.message : String(error);
      return { ...base, kind: "invoice", invoiceReferenceId, invoiceKnown: true, note };
    }
  }
}
