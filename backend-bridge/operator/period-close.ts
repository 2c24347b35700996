import type { Clock } from "../../platform/clock.ts";
import { type PeriodReport, parsePeriodReport } from "../seqr/period-report.ts";
import { seqrResultCodes } from "../seqr/result-codes.ts";
import { explainSeqrResult } from "../seqr/result-explanations.ts";
import type { SeqrApi } from "../seqr/seqr-api.ts";
import { SeqrResultError } from "../seqr/seqr-errors.ts";
import type { Purchase, RefundRecord, SeqrSettlement, Store, StoreOps } from "../store/store.ts";
import { type Difference, ledgerDifferences } from "./ledger-differences.ts";

/**
 * One SEQR period close (seqr-protocol.md §7): markTransactionPeriod as the RESELLERUSER, a short wait, executeReport
 * on the closed period (asked again while SEQR answers 2 REPORT_NOT_READY), then SEQR's payments and refunds against
 * our ledger (ledger-differences.ts). Every difference becomes a reconciliation item: a flag on the purchase where
 * there is one, a stored item otherwise. A SEQR failure is recorded as a failed close and explained, never thrown.
 *
 * Our side is checked over a window of settlement times that ends `settleLagMs` before the close started: a purchase
 * whose session closed by then has had its commit answered, so SEQR has it in this period or an earlier one; what
 * SEQR reported in any period is kept (seqr_settlements), so a commit that fell into an earlier period is found too.
 */

export interface PeriodCloseSettings {
  reportId: string;
  reportRetryMs: number;
  reportAttempts: number;
  /** The first close checks our ledger this far back. */
  intervalMs: number;
  /** How long after a session closed its commit may still be running (the reservation's commit window). */
  settleLagMs: number;
}

export interface PeriodCloseDependencies {
  store: Store;
  seqr: Pick<SeqrApi, "markTransactionPeriod" | "executeReport">;
  clock: Clock;
  settings: PeriodCloseSettings;
}

export type PeriodCloseResult =
  | {
      status: "closed";
      transactionPeriodId: string;
      payments: number;
      refunds: number;
      window: { from: number; to: number };
      differences: Difference[];
    }
  | { status: "failed"; transactionPeriodId: string | null; error: string };

export async function closeSeqrPeriod(deps: PeriodCloseDependencies): Promise<PeriodCloseResult> {
  const { store, clock, settings } = deps;
  const startedAt = clock.now();
  let transactionPeriodId: string | null = null;
  let report: PeriodReport;
  try {
    ({ transactionPeriodId } = await deps.seqr.markTransactionPeriod());
    report = parsePeriodReport(await fetchReport(deps, transactionPeriodId));
  } catch (error) {
    const failure = describe(error);
    const at = clock.now();
    await store.recordPeriodClose({
      transactionPeriodId,
      status: "failed",
      startedAt,
      windowTo: startedAt,
      differences: 0,
      error: failure,
      finishedAt: at,
    });
    await store.appendAudit(closeAudit("seqr-period-close-failed", at, { transactionPeriodId, error: failure }));
    return { status: "failed", transactionPeriodId, error: failure };
  }
  const periodId = transactionPeriodId;
  return store.transaction(async (tx) => {
    const at = clock.now();
    const last = await tx.lastPeriodClose();
    const to = startedAt - settings.settleLagMs;
    const from = Math.min(last?.windowTo ?? to - settings.intervalMs, to);
    await tx.insertSeqrSettlements(settlementsOf(report, periodId, at));
    const differences = ledgerDifferences(await gather(tx, report, from, to));
    for (const difference of differences) await record(tx, difference, periodId, at);
    await tx.recordPeriodClose({
      transactionPeriodId: periodId,
      status: "closed",
      startedAt,
      windowTo: to,
      differences: differences.length,
      error: null,
      finishedAt: at,
    });
    const counts = { payments: report.payments.length, refunds: report.refunds.length };
    await tx.appendAudit(
      closeAudit("seqr-period-closed", at, {
        transactionPeriodId: periodId,
        ...counts,
        differences: differences.length,
      }),
    );
    return { status: "closed", transactionPeriodId: periodId, ...counts, window: { from, to }, differences };
  });
}

/** executeReport after SEQR's suggested pause, again while it answers 2 (or another "try later" code). */
async function fetchReport(deps: PeriodCloseDependencies, transactionPeriodId: string): Promise<string> {
  const { settings } = deps;
  for (let attempt = 1; ; attempt++) {
    await sleep(deps.clock, settings.reportRetryMs);
    try {
      const { report } = await deps.seqr.executeReport(settings.reportId, { transactionPeriodId });
      return report.content;
    } catch (error) {
      const later = error instanceof SeqrResultError && error.transient;
      if (!later || attempt >= settings.reportAttempts) throw error;
    }
  }
}

async function gather(tx: StoreOps, report: PeriodReport, from: number, to: number) {
  const purchasesByErs = new Map<string, Purchase>();
  const paymentRefs = new Set([
    ...report.payments.map((payment) => payment.ersReference),
    ...report.refunds.map((refund) => refund.paymentErsReference),
  ]);
  for (const reference of paymentRefs) {
    const purchase = await tx.findPurchaseByErsReference(reference);
    if (purchase) purchasesByErs.set(reference, purchase);
  }
  const refundsByErs = new Map<string, RefundRecord>();
  for (const refund of report.refunds) {
    const ours = await tx.findRefundByErsReference(refund.ersReference);
    if (ours) refundsByErs.set(refund.ersReference, ours);
  }
  const committedInWindow = await tx.listCommittedClosedBetween(from, to);
  const refundsInWindow = await tx.listRefundsSettledBetween(from, to);
  const ours = [
    ...committedInWindow.flatMap((purchase) => (purchase.ersReference ? [purchase.ersReference] : [])),
    ...refundsInWindow.flatMap((refund) => (refund.ersReference ? [refund.ersReference] : [])),
  ];
  const reportedBySeqr = await tx.reportedBySeqr(ours);
  return { report, purchasesByErs, refundsByErs, committedInWindow, refundsInWindow, reportedBySeqr };
}

async function record(tx: StoreOps, difference: Difference, transactionPeriodId: string, at: number): Promise<void> {
  const detail = { ...difference.detail, ersReference: difference.ersReference, transactionPeriodId };
  if (difference.sessionId) {
    await tx.flagReconciliation(difference.sessionId, `seqr-${difference.kind}`, at, detail);
    return;
  }
  await tx.addReconciliationItem({
    kind: difference.kind,
    ersReference: difference.ersReference,
    transactionPeriodId,
    detail,
    createdAt: at,
  });
}

function settlementsOf(report: PeriodReport, transactionPeriodId: string, at: number): SeqrSettlement[] {
  return [
    ...report.payments.map((payment) => ({ ...payment, kind: "payment" as const, paymentErsReference: null })),
    ...report.refunds.map((refund) => ({ ...refund, kind: "refund" as const })),
  ].map((entry) => ({
    ersReference: entry.ersReference,
    kind: entry.kind,
    paymentErsReference: entry.paymentErsReference,
    amountMinor: entry.amountMinor,
    currency: entry.currency,
    transactionPeriodId,
    reportedAt: at,
  }));
}

function closeAudit(reason: string, at: number, detail: Record<string, unknown>) {
  return { sessionId: null, machineId: null, fromState: null, toState: null, reason, detail, at };
}

function describe(error: unknown): string {
  if (error instanceof SeqrResultError) {
    const words = error.resultCode === seqrResultCodes.REPORT_NOT_READY ? "the report was still not ready" : "";
    return `${error.message}: ${words || explainSeqrResult(error.resultCode)}`;
  }
  return error instanceof Error ? error.message : String(error);
}

function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}
