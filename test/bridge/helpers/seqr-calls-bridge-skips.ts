import type { Invoice } from "../../../backend-bridge/seqr/seqr-api.ts";

/**
 * The SeqrApi calls the purchase flow never makes; the test SEQRs extend this so that a stray call fails loudly.
 * refundPayment is an operator's (console, CLI): a test SEQR that serves one overrides it (FakeSeqr).
 */
export class SeqrCallsBridgeSkips {
  refundPayment(_ersReference: string, _invoice: Invoice): Promise<{ ersReference: string }> {
    return Promise.reject(new Error("not used by the bridge"));
  }

  markTransactionPeriod(): Promise<{ transactionPeriodId: string }> {
    return Promise.reject(new Error("not used by the bridge"));
  }

  executeReport(): Promise<{ report: { content: string } }> {
    return Promise.reject(new Error("not used by the bridge"));
  }
}
