import type { SqlExecutor, SqlValue } from "./sql-driver.ts";
import type { RefundChanges, RefundRecord } from "./store.ts";

/** The `refunds` table's SQL, shared by SQLite and PostgreSQL (the store delegates here). */

interface RefundRow {
  refund_id: string;
  session_id: string;
  amount_minor: number | string;
  currency: string;
  status: RefundRecord["status"];
  actor: string;
  note: string | null;
  ers_reference: string | null;
  result_code: number | null;
  error: string | null;
  created_at: number | string;
  updated_at: number | string;
}

const changeColumns: Record<keyof RefundChanges, string> = {
  status: "status",
  ersReference: "ers_reference",
  resultCode: "result_code",
  error: "error",
};

function toRefund(row: RefundRow): RefundRecord {
  return {
    refundId: row.refund_id,
    sessionId: row.session_id,
    amountMinor: Number(row.amount_minor),
    currency: row.currency,
    status: row.status,
    actor: row.actor,
    note: row.note,
    ersReference: row.ers_reference,
    resultCode: row.result_code === null ? null : Number(row.result_code),
    error: row.error,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

export async function insertRefund(ex: SqlExecutor, refund: Omit<RefundRecord, "updatedAt">): Promise<boolean> {
  const { changes } = await ex.run(
    `INSERT INTO refunds (refund_id, session_id, amount_minor, currency, status, actor, note, ers_reference,
       result_code, error, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (refund_id) DO NOTHING`,
    [
      refund.refundId,
      refund.sessionId,
      refund.amountMinor,
      refund.currency,
      refund.status,
      refund.actor,
      refund.note,
      refund.ersReference,
      refund.resultCode,
      refund.error,
      refund.createdAt,
      refund.createdAt,
    ],
  );
  return changes === 1;
}

export async function updateRefund(
  ex: SqlExecutor,
  refundId: string,
  changes: RefundChanges,
  at: number,
): Promise<void> {
  const entries = Object.entries(changes).filter(([, value]) => value !== undefined) as [
    keyof RefundChanges,
    SqlValue,
  ][];
  const sets = entries.map(([key]) => `${changeColumns[key]} = ?, `).join("");
  await ex.run(`UPDATE refunds SET ${sets}updated_at = ? WHERE refund_id = ?`, [
    ...entries.map(([, value]) => value),
    at,
    refundId,
  ]);
}

export async function getRefund(ex: SqlExecutor, refundId: string): Promise<RefundRecord | undefined> {
  const rows = await ex.all<RefundRow>("SELECT * FROM refunds WHERE refund_id = ?", [refundId]);
  return rows[0] ? toRefund(rows[0]) : undefined;
}

export async function listRefunds(ex: SqlExecutor, sessionId: string): Promise<RefundRecord[]> {
  const rows = await ex.all<RefundRow>("SELECT * FROM refunds WHERE session_id = ? ORDER BY created_at, refund_id", [
    sessionId,
  ]);
  return rows.map(toRefund);
}

export async function findRefundByErsReference(
  ex: SqlExecutor,
  ersReference: string,
): Promise<RefundRecord | undefined> {
  const rows = await ex.all<RefundRow>("SELECT * FROM refunds WHERE ers_reference = ?", [ersReference]);
  return rows[0] ? toRefund(rows[0]) : undefined;
}

export async function listRefundsSettledBetween(ex: SqlExecutor, from: number, to: number): Promise<RefundRecord[]> {
  const rows = await ex.all<RefundRow>(
    "SELECT * FROM refunds WHERE status = 'refunded' AND updated_at > ? AND updated_at <= ? ORDER BY updated_at",
    [from, to],
  );
  return rows.map(toRefund);
}
