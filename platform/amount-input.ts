import { z } from "zod";
import { parseDecimalToMinor } from "./money.ts";

/**
 * An amount as an operator types it, in major units ("1.50"), turned into integer minor units of `currency` (design
 * §4.1). Refused, in words: anything but a plain decimal (a sign, an exponent, text), more decimals than the currency
 * has, and zero (`zeroMessage` says why zero is wrong where it is asked). The refund form, the refund CLI and the
 * catalog page's prices all read amounts here.
 */
export function positiveAmountSchema(currency: string, zeroMessage: string) {
  return z
    .string()
    .trim()
    .transform((text, context) => {
      if (!/^\d+(\.\d+)?$/.test(text)) {
        context.addIssue({ code: "custom", message: `"${text}" is not an amount such as 1.50` });
        return z.NEVER;
      }
      let minor: number;
      try {
        minor = parseDecimalToMinor(text, currency);
      } catch (error) {
        context.addIssue({ code: "custom", message: (error as Error).message });
        return z.NEVER;
      }
      if (minor === 0) {
        context.addIssue({ code: "custom", message: zeroMessage });
        return z.NEVER;
      }
      return minor;
    });
}
