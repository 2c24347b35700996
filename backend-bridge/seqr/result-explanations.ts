import { seqrResultCodes as codes, seqrResultName } from "./result-codes.ts";

/**
 * SEQR's result codes in an operator's words (seqr-protocol.md §9): what happened and what to do, for the refund and
 * period-close answers that a person reads (CLI output, audit log). Codes a refund or report never gets fall back to
 * the constant name.
 */
const explanations: ReadonlyMap<number, string> = new Map([
  [codes.SUCCESS, "done"],
  [codes.REPORT_NOT_READY, "SEQR has not finished the report yet; it is asked again in a few seconds"],
  [codes.REJECTED_AMOUNT, "SEQR rejected the amount"],
  [codes.AUTHENTICATION_FAILED, "SEQR refused the password: check seqr.password (or seqr.resellerUser.password)"],
  [codes.ACCESS_DENIED, "this principal may not make the call (a terminal for a reseller call or the reverse)"],
  [codes.INVALID_ERS_REFERENCE, "SEQR does not know the payment (ersReference) on this terminal"],
  [codes.INVALID_INITIATOR_PRINCIPAL_ID, "SEQR does not know the terminal: check seqr.terminalId"],
  [codes.INVALID_INITIATOR_PRINCIPAL_STATE, "the terminal or reseller is blocked or inactive at SEQR"],
  [codes.INITIATOR_PRINCIPAL_NOT_FOUND, "SEQR does not know the reseller user: check seqr.resellerUser"],
  [codes.PAYMENT_IN_PROGRESS, "a payment on this invoice is still running at SEQR; try again shortly"],
  [codes.INVALID_NOTIFICATION_URL, "SEQR refused the notification URL"],
  [codes.SYSTEM_ERROR, "SEQR failed inside; try again later"],
  [codes.UNSUPPORTED_OPERATION, "this SEQR endpoint does not support the call"],
  [codes.SYSTEM_BUSY, "SEQR is busy; try again later"],
  [codes.SERVICE_UNAVAILABLE, "SEQR's bank or back end is down; try again later"],
  [
    codes.RESELLER_NOT_ALLOWED_TO_DO_REFUND,
    "97: this reseller account may not refund through the API; refund from SEQR's merchant portal or ask SEQR to allow it",
  ],
  [
    codes.SUM_OF_REFUNDS_CAN_NOT_BE_MORE_THAN_ORIGINAL_TRANSACTION,
    "98: the refunds of this payment would exceed what was paid; SEQR has already refunded more than the bridge knows",
  ],
  [
    codes.RECEIVER_ACCOUNT_DOES_NOT_ALLOW_REFUNDS,
    "99: the merchant account that received the payment does not allow refunds; settle with the customer another way",
  ],
]);

export function explainSeqrResult(code: number): string {
  return explanations.get(code) ?? `SEQR answered ${code} ${seqrResultName(code)}`;
}
