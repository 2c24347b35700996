import { formatPeriodReport, type ReportedPayment, type ReportedRefund } from "../seqr/period-report.ts";
import { seqrResultCodes } from "../seqr/result-codes.ts";
import { SeqrFailure } from "./invoice-ledger.ts";

/**
 * The sandbox's settlement book: every payment and refund as it happens, cut into periods by markTransactionPeriod,
 * and the reconciliation report of a closed period (seqr-protocol.md §7: close, then executeReport with its
 * transactionPeriodId). A payment reversed before its period closed (the 20-second rule) leaves the book.
 * Tests can plant a difference: a payment SEQR has and the reseller does not, or an amount SEQR took differently.
 */

export const reconciliationReportIds: readonly string[] = [
  "Reconciliation/Shop.xml",
  "Reconciliation/STD_RECON_003.xml",
  "Reconciliation/STD_RECON_006.xml",
  "Reconciliation/STD_RECON_007.xml",
];

type Entry = { kind: "payment"; payment: ReportedPayment } | { kind: "refund"; refund: ReportedRefund };

export class TransactionPeriods {
  #open: Entry[] = [];
  readonly #closed = new Map<string, Entry[]>();

  recordPayment(payment: ReportedPayment): void {
    this.#open.push({ kind: "payment", payment: { ...payment } });
  }

  recordRefund(refund: ReportedRefund): void {
    this.#open.push({ kind: "refund", refund: { ...refund } });
  }

  /** A reversed payment gives the money back: it is not settled in the period still open. */
  withdrawPayment(ersReference: string): void {
    this.#open = this.#open.filter((entry) => entry.kind !== "payment" || entry.payment.ersReference !== ersReference);
  }

  close(transactionPeriodId: string): void {
    this.#closed.set(transactionPeriodId, this.#open);
    this.#open = [];
  }

  /** The report's text; 10 REJECTED_BUSINESS_LOGIC for an unknown report or period (SEQR documents no better code). */
  report(reportId: string, parameters: Record<string, string>): string {
    if (!reconciliationReportIds.includes(reportId)) {
      throw new SeqrFailure(seqrResultCodes.REJECTED_BUSINESS_LOGIC, `no report ${reportId}`);
    }
    const periodId = parameters.transactionPeriodId ?? "";
    const entries = this.#closed.get(periodId);
    if (!entries) {
      throw new SeqrFailure(seqrResultCodes.REJECTED_BUSINESS_LOGIC, `no closed period ${JSON.stringify(periodId)}`);
    }
    const terminal = parameters.TERMINALID;
    const mine = (entry: ReportedPayment) => terminal === undefined || entry.terminalId === terminal;
    return formatPeriodReport({
      payments: entries.flatMap((entry) => (entry.kind === "payment" && mine(entry.payment) ? [entry.payment] : [])),
      refunds: entries.flatMap((entry) => (entry.kind === "refund" && mine(entry.refund) ? [entry.refund] : [])),
    });
  }

  // ---- test only: differences planted in SEQR's book -----------------------------------------------------------

  /** A payment in the open period that no invoice of the reseller's made (SEQR knows money the bridge does not). */
  plantPayment(payment: ReportedPayment): void {
    this.recordPayment(payment);
  }

  /** SEQR's book shows another amount for a payment of the open period; false when there is no such payment. */
  alterPayment(ersReference: string, amountMinor: number): boolean {
    const entry = this.#open.find((item) => item.kind === "payment" && item.payment.ersReference === ersReference);
    if (entry?.kind !== "payment") return false;
    entry.payment.amountMinor = amountMinor;
    return true;
  }
}
