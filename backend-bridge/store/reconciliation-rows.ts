import type { SqlExecutor } from "./sql-driver.ts";
import { placeholders } from "./sql-driver.ts";
import type { PeriodCloseRecord, ReconciliationItem, SeqrSettlement } from "./store.ts";

/** The period close's tables (migration 5), shared by SQLite and PostgreSQL; the store delegates here. */

export async function recordPeriodClose(ex: SqlExecutor, close: PeriodCloseRecord): Promise<void> {
  await ex.run(
    `INSERT INTO seqr_period_closes (transaction_period_id, status, started_at, window_to, differences, error, finished_at)
     VALUES (?, ?, ?, ?, ?, ?, ?)`,
    [
      close.transactionPeriodId,
      close.status,
      close.startedAt,
      close.windowTo,
      close.differences,
      close.error,
      close.finishedAt,
    ],
  );
}

export async function lastPeriodClose(ex: SqlExecutor): Promise<PeriodCloseRecord | undefined> {
  const rows = await ex.all<{
    transaction_period_id: string | null;
    status: PeriodCloseRecord["status"];
    started_at: number | string;
    window_to: number | string;
    differences: number;
    error: string | null;
    finished_at: number | string;
  }>("SELECT * FROM seqr_period_closes WHERE status = 'closed' ORDER BY started_at DESC, id DESC LIMIT 1");
  const row = rows[0];
  if (!row) return undefined;
  return {
    transactionPeriodId: row.transaction_period_id,
    status: row.status,
    startedAt: Number(row.started_at),
    windowTo: Number(row.window_to),
    differences: Number(row.differences),
    error: row.error,
    finishedAt: Number(row.finished_at),
  };
}

export async function insertSeqrSettlements(ex: SqlExecutor, settlements: readonly SeqrSettlement[]): Promise<void> {
  for (const each of settlements) {
    await ex.run(
      `INSERT INTO seqr_settlements (ers_reference, kind, payment_ers_reference, amount_minor, currency,
         transaction_period_id, reported_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (ers_reference) DO NOTHING`,
      [
        each.ersReference,
        each.kind,
        each.paymentErsReference,
        each.amountMinor,
        each.currency,
        each.transactionPeriodId,
        each.reportedAt,
      ],
    );
  }
}

/** Which of `references` SEQR has reported in any closed period. */
export async function reportedBySeqr(ex: SqlExecutor, references: readonly string[]): Promise<Set<string>> {
  const found = new Set<string>();
  for (let start = 0; start < references.length; start += 500) {
    const chunk = references.slice(start, start + 500);
    const rows = await ex.all<{ ers_reference: string }>(
      `SELECT ers_reference FROM seqr_settlements WHERE ers_reference IN ${placeholders(chunk.length)}`,
      chunk,
    );
    for (const row of rows) found.add(row.ers_reference);
  }
  return found;
}

/** False when an item of this kind for this reference exists already. */
export async function addReconciliationItem(ex: SqlExecutor, item: ReconciliationItem): Promise<boolean> {
  const { changes } = await ex.run(
    `INSERT INTO reconciliation_items (kind, ers_reference, transaction_period_id, detail, created_at)
     VALUES (?, ?, ?, ?, ?) ON CONFLICT (kind, ers_reference) DO NOTHING`,
    [item.kind, item.ersReference, item.transactionPeriodId, JSON.stringify(item.detail), item.createdAt],
  );
  return changes === 1;
}

export async function listReconciliationItems(ex: SqlExecutor): Promise<ReconciliationItem[]> {
  const rows = await ex.all<{
    kind: string;
    ers_reference: string;
    transaction_period_id: string;
    detail: string | null;
    created_at: number | string;
  }>("SELECT * FROM reconciliation_items ORDER BY id");
  return rows.map((row) => ({
    kind: row.kind,
    ersReference: row.ers_reference,
    transactionPeriodId: row.transaction_period_id,
    detail: row.detail ? (JSON.parse(row.detail) as Record<string, unknown>) : {},
    createdAt: Number(row.created_at),
  }));
}
