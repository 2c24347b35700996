/**
 * SEQR's ERSWSResultCodes (seqr-protocol.md §9; names of 30-47 and 60-63 from the API reference's table): the
 * number in `<resultCode>` and the constant name SEQR puts in `<resultDescription>`. Shared by the client (to name a typed error) and the sandbox (to answer like SEQR).
 */
export const seqrResultCodes = {
  SUCCESS: 0,
  PENDING_APPROVAL: 1,
  REPORT_NOT_READY: 2,
  REJECTED_BUSINESS_LOGIC: 10,
  REJECTED_AMOUNT: 11,
  REJECTED_PAYMENT: 12,
  REJECTED_TOPUP: 13,
  AUTHENTICATION_FAILED: 20,
  ACCESS_DENIED: 21,
  INVALID_NEW_PASSWORD: 22,
  INVALID_ERS_REFERENCE: 23,
  INVALID_INITIATOR_PRINCIPAL_ID: 29,
  INVALID_RECEIVER_PRINCIPAL_ID: 30,
  INVALID_SENDER_PRINCIPAL_ID: 31,
  INVALID_TOPUP_PRINCIPAL_ID: 32,
  INVALID_INITIATOR_PRINCIPAL_STATE: 33,
  INVALID_RECEIVER_PRINCIPAL_STATE: 34,
  INVALID_SENDER_PRINCIPAL_STATE: 35,
  INVALID_TOPUP_PRINCIPAL_STATE: 36,
  INITIATOR_PRINCIPAL_NOT_FOUND: 37,
  RECEIVER_PRINCIPAL_NOT_FOUND: 38,
  SENDER_PRINCIPAL_NOT_FOUND: 39,
  TOPUP_PRINCIPAL_NOT_FOUND: 40,
  INVALID_PRODUCT: 41,
  INVALID_RECEIVER_ACCOUNT_TYPE: 42,
  INVALID_SENDER_ACCOUNT_TYPE: 43,
  INVALID_TOPUP_ACCOUNT_TYPE: 44,
  RECEIVER_ACCOUNT_NOT_FOUND: 45,
  SENDER_ACCOUNT_NOT_FOUND: 46,
  TOPUP_ACCOUNT_NOT_FOUND: 47,
  PAYMENT_IN_PROGRESS: 48,
  INVALID_INVOICE_DATA: 49,
  CANNOT_CANCEL_PAID_INVOICE: 50,
  CANNOT_CANCEL_INVOICE_IN_PROGRESS: 51,
  INVALID_CUSTOMER: 52,
  INVALID_SEQR_ID: 53,
  INVALID_INVOICE_REFERENCE: 54,
  PAYMENT_ALREADY_CANCELLED: 55,
  REGISTRATION_NOT_POSSIBLE: 56,
  REGISTRATION_PRINCIPAL_ALREADY_EXISTS: 57,
  PAYMENT_EXPIRED: 58,
  AUTHORIZATION_EXPIRED: 60,
  AUTHORIZATION_CANCELLED: 61,
  AUTHORIZATION_IN_PROGRESS: 62,
  INVALID_AUTHORIZATION_REFERENCE: 63,
  INVALID_NOTIFICATION_URL: 64,
  SYSTEM_ERROR: 90,
  UNSUPPORTED_OPERATION: 91,
  LICENSE_REJECTION: 92,
  SYSTEM_BUSY: 93,
  SERVICE_UNAVAILABLE: 94,
  INVOICE_ALREADY_CANCELED: 95,
  INVOICE_STATE_NOT_RESERVED: 96,
  RESELLER_NOT_ALLOWED_TO_DO_REFUND: 97,
  SUM_OF_REFUNDS_CAN_NOT_BE_MORE_THAN_ORIGINAL_TRANSACTION: 98,
  RECEIVER_ACCOUNT_DOES_NOT_ALLOW_REFUNDS: 99,
} as const;

export type SeqrResultName = keyof typeof seqrResultCodes;
export type SeqrResultCode = (typeof seqrResultCodes)[SeqrResultName];

const namesByCode = new Map<number, SeqrResultName>(
  Object.entries(seqrResultCodes).map(([name, code]) => [code, name as SeqrResultName]),
);

/** The constant name of a code, or `UNKNOWN_<code>` for a number SEQR never documented. */
export function seqrResultName(code: number): SeqrResultName | `UNKNOWN_${number}` {
  return namesByCode.get(code) ?? `UNKNOWN_${code}`;
}

export function isDocumentedResultCode(code: number): code is SeqrResultCode {
  return namesByCode.has(code);
}

/** Codes after which the same call may succeed later without a change on our side (MAN: 93 "retry later"). */
export const transientResultCodes: ReadonlySet<number> = new Set([
  seqrResultCodes.SYSTEM_ERROR,
  seqrResultCodes.SYSTEM_BUSY,
  seqrResultCodes.SERVICE_UNAVAILABLE,
  seqrResultCodes.PAYMENT_IN_PROGRESS,
  seqrResultCodes.REPORT_NOT_READY,
]);
