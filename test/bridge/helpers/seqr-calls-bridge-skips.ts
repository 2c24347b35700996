/** The SeqrApi calls the bridge never makes; the test SEQRs extend this so that a stray call fails loudly. */
export class SeqrCallsBridgeSkips {
  refundPayment(): Promise<{ ersReference: string }> {
    return Promise.reject(new Error("not used by the bridge"));
  }

  markTransactionPeriod(): Promise<{ transactionPeriodId: string }> {
    return Promise.reject(new Error("not used by the bridge"));
  }

  executeReport(): Promise<{ report: { content: string } }> {
    return Promise.reject(new Error("not used by the bridge"));
  }
}
