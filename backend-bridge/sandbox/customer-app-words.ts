import type { UpsOutcome } from "./ups-caller.ts";

/**
 * What the phone tells a customer when a scan did not start a payment: the reseller's createPurchase errorCode (or a
 * failed call) in the customer's words. The code itself stays in small print for support; nobody was charged.
 */

export interface ScanProblem {
  /** The big line: what happened, for the customer. */
  title: string;
  /** What to do now. */
  advice: string;
  /** The technical answer, for support ("errorCode DEVICE_IN_USE"). */
  code: string;
}

const byErrorCode: Record<string, Omit<ScanProblem, "code">> = {
  INSUFFICIENT_FUNDS: {
    title: "The amount is too low for this machine",
    advice: "Allow a higher amount in your SEQR app and scan again. You have not been charged.",
  },
  DEVICE_IN_USE: {
    title: "This machine is in use by another customer",
    advice: "Wait until they have finished, then scan again. You have not been charged.",
  },
  DEVICE_UNAVAILABLE: {
    title: "This machine is out of service",
    advice: "Please use another machine. You have not been charged.",
  },
  INVOICING_ERROR: {
    title: "The payment could not be started",
    advice: "Please scan again in a moment. You have not been charged.",
  },
  SYSTEM_ERROR: {
    title: "Something went wrong at the machine's operator",
    advice: "Please try again later. You have not been charged.",
  },
};

/** Undefined when the scan started a payment (the phone then shows the invoice itself). */
export function scanProblem(outcome: UpsOutcome): ScanProblem | undefined {
  if (outcome.kind === "invoice") return undefined;
  if (outcome.kind === "error-code") {
    const words = Object.hasOwn(byErrorCode, outcome.errorCode) ? byErrorCode[outcome.errorCode] : undefined;
    return {
      ...(words ?? {
        title: "The payment could not be started",
        advice: "Please try again later. You have not been charged.",
      }),
      code: `errorCode ${outcome.errorCode}`,
    };
  }
  return {
    title: "The machine's operator did not answer",
    advice: "Please try again later. You have not been charged.",
    code: outcome.reason,
  };
}
