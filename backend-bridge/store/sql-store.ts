import { machineHoldingStates } from "./migrations.ts";
import * as reconciliationRows from "./reconciliation-rows.ts";
import * as refundRows from "./refund-rows.ts";
import {
  placeholders,
  type SqlDriver,
  type SqlExecutor,
  type SqlValue,
  type TransactionOptions,
} from "./sql-driver.ts";
import type {
  AuditEntry,
  NewOutboxItem,
  NewPurchase,
  OperatorAccount,
  OutboxItem,
  PeriodCloseRecord,
  Purchase,
  PurchaseChanges,
  PurchaseQuery,
  PurchaseState,
  ReconciliationItem,
  RefundChanges,
  RefundRecord,
  SeqrSettlement,
  Store,
  StoredMachine,
  StoreOps,
  VendRecord,
} from "./store.ts";
import { terminalStates } from "./store.ts";

/**
 * The store, written once in SQL that SQLite (>= 3.35) and PostgreSQL both accept. Two hot operations, the claim and
 * the state transition, have a PostgreSQL form of their own: one statement with data-modifying CTEs (the row, its
 * audit entry) instead of a transaction of several, because on PostgreSQL each statement is a network round trip.
 * SQLite has no data-modifying CTEs and no round trips; it keeps the multi-statement form inside a transaction.
 */

const changeColumns: Record<keyof PurchaseChanges, string> = {
  msisdn: "msisdn",
  invoiceReference: "invoice_reference",
  statusVersion: "status_version",
  unlockCommandId: "unlock_command_id",
  unlockExpiresAt: "unlock_expires_at",
  ersReference: "ers_reference",
  endedVendedCount: "ended_vended_count",
  endedVendedTotalMinor: "ended_vended_total_minor",
  endedUnknownCount: "ended_unknown_count",
  endReason: "end_reason",
  billedMinor: "billed_minor",
  committedMinor: "committed_minor",
  invoicedAt: "invoiced_at",
  reservedAt: "reserved_at",
  unlockedAt: "unlocked_at",
  closedAt: "closed_at",
  reconciliation: "reconciliation",
};

interface PurchaseRow {
  session_id: string;
  machine_id: string;
  state: PurchaseState;
  amount_minor: number;
  currency: string;
  msisdn: string | null;
  notify_secret: string;
  invoice_reference: string | null;
  status_version: number;
  unlock_command_id: string | null;
  unlock_expires_at: number | null;
  ers_reference: string | null;
  ended_vended_count: number | null;
  ended_vended_total_minor: number | null;
  ended_unknown_count: number | null;
  end_reason: string | null;
  billed_minor: number | null;
  committed_minor: number | null;
  reconciliation: string | null;
  created_at: number;
  updated_at: number;
  invoiced_at: number | null;
  reserved_at: number | null;
  unlocked_at: number | null;
  closed_at: number | null;
  row_version: number;
}

function toPurchase(row: PurchaseRow): Purchase {
  return {
    sessionId: row.session_id,
    machineId: row.machine_id,
    state: row.state,
    amountMinor: Number(row.amount_minor),
    currency: row.currency,
    msisdn: row.msisdn,
    notifySecret: row.notify_secret,
    invoiceReference: row.invoice_reference,
    statusVersion: row.status_version,
    unlockCommandId: row.unlock_command_id,
    unlockExpiresAt: row.unlock_expires_at === null ? null : Number(row.unlock_expires_at),
    ersReference: row.ers_reference,
    endedVendedCount: row.ended_vended_count,
    endedVendedTotalMinor: row.ended_vended_total_minor === null ? null : Number(row.ended_vended_total_minor),
    endedUnknownCount: row.ended_unknown_count,
    endReason: row.end_reason,
    billedMinor: row.billed_minor === null ? null : Number(row.billed_minor),
    committedMinor: row.committed_minor === null ? null : Number(row.committed_minor),
    reconciliation: row.reconciliation,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    invoicedAt: row.invoiced_at === null ? null : Number(row.invoiced_at),
    reservedAt: row.reserved_at === null ? null : Number(row.reserved_at),
    unlockedAt: row.unlocked_at === null ? null : Number(row.unlocked_at),
    closedAt: row.closed_at === null ? null : Number(row.closed_at),
    rowVersion: row.row_version,
  };
}

interface VendRow {
  session_id: string;
  vend_id: string;
  event_id: string;
  selection: string;
  sku: string | null;
  name: string | null;
  price_minor: number;
  reported_price_minor: number | null;
  currency: string;
  outcome: VendRecord["outcome"];
  evidence: string | null;
  at: number;
}

function toVend(row: VendRow): VendRecord {
  return {
    sessionId: row.session_id,
    vendId: row.vend_id,
    eventId: row.event_id,
    selection: row.selection,
    sku: row.sku,
    name: row.name,
    priceMinor: Number(row.price_minor),
    reportedPriceMinor: row.reported_price_minor === null ? null : Number(row.reported_price_minor),
    currency: row.currency,
    outcome: row.outcome,
    evidence: row.evidence,
    at: Number(row.at),
  };
}

interface OutboxRow {
  id: number;
  session_id: string;
  kind: OutboxItem["kind"];
  payload: string;
  status: OutboxItem["status"];
  generation: number;
  attempts: number;
  next_attempt_at: number;
  deadline_at: number;
  last_error: string | null;
  outcome_unknown: number;
}

function toOutbox(row: OutboxRow): OutboxItem {
  return {
    id: Number(row.id),
    sessionId: row.session_id,
    kind: row.kind,
    payload: JSON.parse(row.payload) as Record<string, unknown>,
    status: row.status,
    generation: row.generation,
    attempts: row.attempts,
    nextAttemptAt: Number(row.next_attempt_at),
    deadlineAt: Number(row.deadline_at),
    lastError: row.last_error,
    outcomeUnknown: Boolean(row.outcome_unknown),
  };
}

const holding = placeholders(machineHoldingStates.length);
/**
 * Marks a statement that writes only outbox_leases (TEMP on SQLite, UNLOGGED on PostgreSQL): the drivers do not count
 * it as a write, so alone it waits for no fsync.
 */
const ephemeral = "/* ephemeral: outbox_leases */";
const terminal = placeholders(terminalStates.length);

class SqlStoreOps implements StoreOps {
  protected readonly ex: SqlExecutor;
  readonly #dialect: SqlDriver["dialect"];

  constructor(ex: SqlExecutor, dialect: SqlDriver["dialect"]) {
    this.ex = ex;
    this.#dialect = dialect;
  }

  /** Runs several statements atomically: a transaction on the root store, directly inside one. */
  protected atomically<T>(work: (ops: SqlStoreOps) => Promise<T>): Promise<T> {
    return work(this);
  }

  async claimMachine(purchase: NewPurchase): Promise<Purchase | undefined> {
    // The partial unique index on held machines decides: of concurrent claims exactly one row goes in.
    const insert = `INSERT INTO purchases (session_id, machine_id, state, amount_minor, currency, msisdn, notify_secret,
         created_at, updated_at) VALUES (?, ?, 'claimed', ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING *`;
    const values: SqlValue[] = [
      purchase.sessionId,
      purchase.machineId,
      purchase.amountMinor,
      purchase.currency,
      purchase.msisdn,
      purchase.notifySecret,
      purchase.at,
      purchase.at,
    ];
    const detail = JSON.stringify({ amountMinor: purchase.amountMinor, currency: purchase.currency });
    if (this.#dialect === "postgres") {
      // One round trip: the claim and its audit row in one statement, so atomic without a transaction.
      const rows = await this.ex.all<PurchaseRow>(
        `WITH inserted AS (${insert}),
         audit AS (INSERT INTO audit_log (session_id, machine_id, from_state, to_state, reason, detail, at)
                   SELECT session_id, machine_id, NULL, 'claimed', 'createPurchase', ?::text, ?::bigint FROM inserted)
         SELECT * FROM inserted`,
        [...values, detail, purchase.at],
      );
      return rows[0] ? toPurchase(rows[0]) : undefined;
    }
    return this.atomically(async (ops) => {
      const rows = await ops.ex.all<PurchaseRow>(insert, values);
      if (!rows[0]) return undefined;
      await ops.appendAudit({
        sessionId: purchase.sessionId,
        machineId: purchase.machineId,
        fromState: null,
        toState: "claimed",
        reason: "createPurchase",
        detail: { amountMinor: purchase.amountMinor, currency: purchase.currency },
        at: purchase.at,
      });
      return toPurchase(rows[0]);
    });
  }

  async transition(
    sessionId: string,
    from: readonly PurchaseState[],
    to: PurchaseState,
    changes: PurchaseChanges,
    audit: { reason: string; detail?: Record<string, unknown>; at: number },
  ): Promise<Purchase | undefined> {
    if (from.length === 0) return undefined;
    const { sets, values } = assignments(changes);
    if (this.#dialect === "postgres") {
      const detail = audit.detail ? JSON.stringify(audit.detail) : null;
      // One round trip instead of six (BEGIN, SELECT, UPDATE, INSERT, SELECT, COMMIT). The row is updated only if it
      // is still the version read in `old` (a concurrent change makes PostgreSQL re-check the condition on the newest
      // version, which then fails: nothing changes, as with any lost race); the audit row goes in with it or not at
      // all, since one statement is atomic.
      const rows = await this.ex.all<PurchaseRow>(
        `WITH old AS (
           SELECT session_id, state, row_version FROM purchases WHERE session_id = ? AND state IN ${placeholders(from.length)}
         ), updated AS (
           UPDATE purchases p SET state = ?, ${sets}updated_at = ?, row_version = p.row_version + 1
           FROM old WHERE p.session_id = old.session_id AND p.row_version = old.row_version
           RETURNING p.*, old.state AS from_state
         ), audit AS (
           INSERT INTO audit_log (session_id, machine_id, from_state, to_state, reason, detail, at)
           SELECT session_id, machine_id, from_state, state, ?::text, ?::text, ?::bigint FROM updated
         )
         SELECT * FROM updated`,
        [sessionId, ...from, to, ...values, audit.at, audit.reason, detail, audit.at],
      );
      return rows[0] ? toPurchase(rows[0]) : undefined;
    }
    return this.atomically(async (ops) => {
      const before = await ops.getPurchase(sessionId);
      if (!before || !from.includes(before.state)) return undefined;
      const rows = await ops.ex.all<PurchaseRow>(
        `UPDATE purchases SET state = ?, ${sets}updated_at = ?, row_version = row_version + 1
         WHERE session_id = ? AND state = ? AND row_version = ? RETURNING *`,
        [to, ...values, audit.at, sessionId, before.state, before.rowVersion],
      );
      if (!rows[0]) return undefined;
      await ops.appendAudit({
        sessionId,
        machineId: before.machineId,
        fromState: before.state,
        toState: to,
        reason: audit.reason,
        ...(audit.detail ? { detail: audit.detail } : {}),
        at: audit.at,
      });
      return toPurchase(rows[0]);
    });
  }

  async updatePurchase(sessionId: string, changes: PurchaseChanges, at: number): Promise<void> {
    const { sets, values } = assignments(changes);
    await this.ex.run(
      `UPDATE purchases SET ${sets}updated_at = ?, row_version = row_version + 1 WHERE session_id = ?`,
      [...values, at, sessionId],
    );
  }

  async flagReconciliation(
    sessionId: string,
    reason: string,
    at: number,
    detail?: Record<string, unknown>,
  ): Promise<void> {
    await this.atomically(async (ops) => {
      const purchase = await ops.getPurchase(sessionId);
      if (!purchase) return;
      const reasons = new Set((purchase.reconciliation ?? "").split(",").filter(Boolean));
      reasons.add(reason);
      await ops.ex.run(
        "UPDATE purchases SET reconciliation = ?, updated_at = ?, row_version = row_version + 1 WHERE session_id = ?",
        [[...reasons].join(","), at, sessionId],
      );
      await ops.appendAudit({
        sessionId,
        machineId: purchase.machineId,
        fromState: purchase.state,
        toState: purchase.state,
        reason: `reconcile:${reason}`,
        ...(detail ? { detail } : {}),
        at,
      });
    });
  }

  async getPurchase(sessionId: string): Promise<Purchase | undefined> {
    const rows = await this.ex.all<PurchaseRow>("SELECT * FROM purchases WHERE session_id = ?", [sessionId]);
    return rows[0] ? toPurchase(rows[0]) : undefined;
  }

  async lockPurchase(sessionId: string): Promise<Purchase | undefined> {
    const lock = this.#dialect === "postgres" ? " FOR UPDATE" : "";
    const rows = await this.ex.all<PurchaseRow>(`SELECT * FROM purchases WHERE session_id = ?${lock}`, [sessionId]);
    return rows[0] ? toPurchase(rows[0]) : undefined;
  }

  async findPurchaseBySecret(notifySecret: string): Promise<Purchase | undefined> {
    const rows = await this.ex.all<PurchaseRow>("SELECT * FROM purchases WHERE notify_secret = ?", [notifySecret]);
    return rows[0] ? toPurchase(rows[0]) : undefined;
  }

  async listOpenPurchases(): Promise<Purchase[]> {
    const rows = await this.ex.all<PurchaseRow>(
      `SELECT * FROM purchases WHERE state NOT IN ${terminal} ORDER BY created_at`,
      [...terminalStates],
    );
    return rows.map(toPurchase);
  }

  async holderOf(machineId: string): Promise<Purchase | undefined> {
    const rows = await this.ex.all<PurchaseRow>(
      `SELECT * FROM purchases WHERE machine_id = ? AND state IN ${holding}`,
      [machineId, ...machineHoldingStates],
    );
    return rows[0] ? toPurchase(rows[0]) : undefined;
  }

  async listPurchases(options: { machineId?: string; limit?: number } = {}): Promise<Purchase[]> {
    const limit = options.limit ?? 100;
    const rows = options.machineId
      ? await this.ex.all<PurchaseRow>(
          "SELECT * FROM purchases WHERE machine_id = ? ORDER BY created_at DESC, session_id LIMIT ?",
          [options.machineId, limit],
        )
      : await this.ex.all<PurchaseRow>("SELECT * FROM purchases ORDER BY created_at DESC, session_id LIMIT ?", [limit]);
    return rows.map(toPurchase);
  }

  async queryPurchases(query: PurchaseQuery): Promise<Purchase[]> {
    const where: string[] = [];
    const values: SqlValue[] = [];
    if (query.machineId !== undefined) {
      where.push("machine_id = ?");
      values.push(query.machineId);
    }
    if (query.states !== undefined) {
      // An empty state list matches nothing (IN () is not SQL).
      if (query.states.length === 0) return [];
      where.push(`state IN ${placeholders(query.states.length)}`);
      values.push(...query.states);
    }
    if (query.from !== undefined) {
      where.push("created_at >= ?");
      values.push(query.from);
    }
    if (query.to !== undefined) {
      where.push("created_at < ?");
      values.push(query.to);
    }
    if (query.flagged) where.push("reconciliation IS NOT NULL AND reconciliation <> ''");
    const limit = query.limit === undefined ? "" : " LIMIT ?";
    if (query.limit !== undefined) values.push(query.limit);
    const rows = await this.ex.all<PurchaseRow>(
      `SELECT * FROM purchases${where.length > 0 ? ` WHERE ${where.join(" AND ")}` : ""}
       ORDER BY created_at DESC, session_id${limit}`,
      values,
    );
    return rows.map(toPurchase);
  }

  async findPurchaseByInvoiceReference(invoiceReference: string): Promise<Purchase | undefined> {
    const rows = await this.ex.all<PurchaseRow>("SELECT * FROM purchases WHERE invoice_reference = ?", [
      invoiceReference,
    ]);
    return rows[0] ? toPurchase(rows[0]) : undefined;
  }

  async listVendsOf(sessionIds: readonly string[]): Promise<VendRecord[]> {
    const vends: VendRecord[] = [];
    // In chunks: both databases cap the number of parameters of one statement.
    for (let start = 0; start < sessionIds.length; start += 500) {
      const chunk = sessionIds.slice(start, start + 500);
      const rows = await this.ex.all<VendRow>(
        `SELECT * FROM vends WHERE session_id IN ${placeholders(chunk.length)} ORDER BY session_id, at, vend_id`,
        chunk,
      );
      vends.push(...rows.map(toVend));
    }
    return vends;
  }

  async markEventSeen(
    machineId: string,
    eventId: string,
    name: string,
    sessionId: string | null,
    at: number,
  ): Promise<boolean> {
    const { changes } = await this.ex.run(
      `INSERT INTO seen_events (machine_id, event_id, name, session_id, at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT DO NOTHING`,
      [machineId, eventId, name, sessionId, at],
    );
    return changes === 1;
  }

  async insertVend(vend: VendRecord): Promise<"inserted" | "duplicate" | "conflict"> {
    const { changes } = await this.ex.run(
      `INSERT INTO vends (session_id, vend_id, event_id, selection, sku, name, price_minor, reported_price_minor,
         currency, outcome, evidence, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      [
        vend.sessionId,
        vend.vendId,
        vend.eventId,
        vend.selection,
        vend.sku,
        vend.name,
        vend.priceMinor,
        vend.reportedPriceMinor ?? null,
        vend.currency,
        vend.outcome,
        vend.evidence,
        vend.at,
      ],
    );
    if (changes === 1) return "inserted";
    const existing = await this.ex.all<VendRow>("SELECT * FROM vends WHERE session_id = ? AND vend_id = ?", [
      vend.sessionId,
      vend.vendId,
    ]);
    return existing[0]?.outcome === vend.outcome && Number(existing[0]?.price_minor) === vend.priceMinor
      ? "duplicate"
      : "conflict";
  }

  async listVends(sessionId: string): Promise<VendRecord[]> {
    const rows = await this.ex.all<VendRow>("SELECT * FROM vends WHERE session_id = ? ORDER BY at, vend_id", [
      sessionId,
    ]);
    return rows.map(toVend);
  }

  async enqueueOutbox(item: NewOutboxItem): Promise<void> {
    const conflict = item.rearm
      ? `ON CONFLICT (session_id, kind) DO UPDATE SET payload = excluded.payload, status = 'pending',
           generation = outbox.generation + 1, attempts = 0, next_attempt_at = excluded.next_attempt_at,
           deadline_at = excluded.deadline_at, last_error = NULL, outcome_unknown = 0, updated_at = excluded.updated_at`
      : "ON CONFLICT (session_id, kind) DO NOTHING";
    await this.ex.run(
      `INSERT INTO outbox (session_id, kind, payload, status, next_attempt_at, deadline_at, created_at, updated_at)
       VALUES (?, ?, ?, 'pending', ?, ?, ?, ?) ${conflict}`,
      [item.sessionId, item.kind, JSON.stringify(item.payload), item.at, item.deadlineAt, item.at, item.at],
    );
  }

  async getOutbox(sessionId: string, kind: OutboxItem["kind"]): Promise<OutboxItem | undefined> {
    const rows = await this.ex.all<OutboxRow>("SELECT * FROM outbox WHERE session_id = ? AND kind = ?", [
      sessionId,
      kind,
    ]);
    return rows[0] ? toOutbox(rows[0]) : undefined;
  }

  async listOutbox(sessionId?: string): Promise<OutboxItem[]> {
    const rows = sessionId
      ? await this.ex.all<OutboxRow>("SELECT * FROM outbox WHERE session_id = ? ORDER BY id", [sessionId])
      : await this.ex.all<OutboxRow>("SELECT * FROM outbox ORDER BY id");
    return rows.map(toOutbox);
  }

  async leaseDueOutbox(owner: string, now: number, leaseMs: number, limit: number): Promise<OutboxItem[]> {
    // commitReservation and cancelInvoice wait for the session's pending updateInvoice: the final rows go first.
    // The lease row is taken with an upsert: of two instances after the same row, the second finds the first's lease
    // current and takes nothing. A lease that ran out belonged to a worker that died (or hung) inside its attempt: that
    // call may have reached SEQR, so the new attempt treats its outcome as unknown (a commit checks the status first).
    const leased = await this.ex.all<{ outbox_id: number; retaken: number }>(
      `${ephemeral} INSERT INTO outbox_leases (outbox_id, owner, lease_until, retaken)
       SELECT o.id, ?, ?, 0 FROM outbox o LEFT JOIN outbox_leases l ON l.outbox_id = o.id
       WHERE o.status = 'pending' AND o.next_attempt_at <= ? AND (l.lease_until IS NULL OR l.lease_until < ?)
         AND NOT EXISTS (SELECT 1 FROM outbox u WHERE u.session_id = o.session_id AND o.kind <> 'updateInvoice'
                         AND u.kind = 'updateInvoice' AND u.status = 'pending')
       ORDER BY o.next_attempt_at, o.id LIMIT ?
       ON CONFLICT (outbox_id) DO UPDATE SET owner = excluded.owner, lease_until = excluded.lease_until, retaken = 1
         WHERE outbox_leases.lease_until < ?
       RETURNING outbox_id, retaken`,
      [owner, now + leaseMs, now, now, limit, now],
    );
    if (leased.length === 0) return [];
    const retaken = new Set(leased.filter((row) => Number(row.retaken) === 1).map((row) => Number(row.outbox_id)));
    const rows = await this.ex.all<OutboxRow>(
      `SELECT * FROM outbox WHERE id IN ${placeholders(leased.length)} ORDER BY id`,
      leased.map((row) => Number(row.outbox_id)),
    );
    return rows.map((row) => {
      const item = toOutbox(row);
      return retaken.has(item.id) ? { ...item, outcomeUnknown: true } : item;
    });
  }

  async #releaseLease(item: OutboxItem, owner: string): Promise<void> {
    await this.ex.run(`${ephemeral} DELETE FROM outbox_leases WHERE outbox_id = ? AND owner = ?`, [item.id, owner]);
  }

  #holds = "EXISTS (SELECT 1 FROM outbox_leases l WHERE l.outbox_id = outbox.id AND l.owner = ?)";

  async completeOutbox(item: OutboxItem, owner: string, at: number): Promise<boolean> {
    const { changes } = await this.ex.run(
      `UPDATE outbox SET status = 'done', last_error = NULL, updated_at = ?
       WHERE id = ? AND generation = ? AND ${this.#holds}`,
      [at, item.id, item.generation, owner],
    );
    await this.#releaseLease(item, owner);
    return changes === 1;
  }

  async retryOutbox(
    item: OutboxItem,
    owner: string,
    next: { at: number; nextAttemptAt: number; error: string; outcomeUnknown: boolean; countAttempt?: boolean },
  ): Promise<void> {
    await this.ex.run(
      `UPDATE outbox SET attempts = attempts + ?, next_attempt_at = ?, last_error = ?, outcome_unknown = ?, updated_at = ?
       WHERE id = ? AND generation = ? AND ${this.#holds}`,
      [
        next.countAttempt === false ? 0 : 1,
        next.nextAttemptAt,
        next.error.slice(0, 500),
        next.outcomeUnknown ? 1 : 0,
        next.at,
        item.id,
        item.generation,
        owner,
      ],
    );
    await this.#releaseLease(item, owner);
  }

  async abandonOutbox(item: OutboxItem, owner: string, error: string, at: number): Promise<void> {
    await this.ex.run(
      `UPDATE outbox SET status = 'dead', last_error = ?, updated_at = ? WHERE id = ? AND ${this.#holds}`,
      [error.slice(0, 500), at, item.id, owner],
    );
    await this.#releaseLease(item, owner);
  }

  insertRefund(refund: Omit<RefundRecord, "updatedAt">): Promise<boolean> {
    return refundRows.insertRefund(this.ex, refund);
  }

  updateRefund(refundId: string, changes: RefundChanges, at: number): Promise<void> {
    return refundRows.updateRefund(this.ex, refundId, changes, at);
  }

  getRefund(refundId: string): Promise<RefundRecord | undefined> {
    return refundRows.getRefund(this.ex, refundId);
  }

  listRefunds(sessionId: string): Promise<RefundRecord[]> {
    return refundRows.listRefunds(this.ex, sessionId);
  }

  async findPurchaseByErsReference(ersReference: string): Promise<Purchase | undefined> {
    const rows = await this.ex.all<PurchaseRow>("SELECT * FROM purchases WHERE ers_reference = ?", [ersReference]);
    return rows[0] ? toPurchase(rows[0]) : undefined;
  }

  async listCommittedClosedBetween(from: number, to: number): Promise<Purchase[]> {
    const rows = await this.ex.all<PurchaseRow>(
      "SELECT * FROM purchases WHERE state = 'committed' AND closed_at > ? AND closed_at <= ? ORDER BY closed_at",
      [from, to],
    );
    return rows.map(toPurchase);
  }

  findRefundByErsReference(ersReference: string): Promise<RefundRecord | undefined> {
    return refundRows.findRefundByErsReference(this.ex, ersReference);
  }

  listRefundsSettledBetween(from: number, to: number): Promise<RefundRecord[]> {
    return refundRows.listRefundsSettledBetween(this.ex, from, to);
  }

  recordPeriodClose(close: PeriodCloseRecord): Promise<void> {
    return reconciliationRows.recordPeriodClose(this.ex, close);
  }

  lastPeriodClose(): Promise<PeriodCloseRecord | undefined> {
    return reconciliationRows.lastPeriodClose(this.ex);
  }

  insertSeqrSettlements(settlements: readonly SeqrSettlement[]): Promise<void> {
    return reconciliationRows.insertSeqrSettlements(this.ex, settlements);
  }

  reportedBySeqr(ersReferences: readonly string[]): Promise<Set<string>> {
    return reconciliationRows.reportedBySeqr(this.ex, ersReferences);
  }

  addReconciliationItem(item: ReconciliationItem): Promise<boolean> {
    return reconciliationRows.addReconciliationItem(this.ex, item);
  }

  listReconciliationItems(): Promise<ReconciliationItem[]> {
    return reconciliationRows.listReconciliationItems(this.ex);
  }

  async appendAudit(entry: AuditEntry): Promise<void> {
    await this.ex.run(
      `INSERT INTO audit_log (session_id, machine_id, from_state, to_state, reason, detail, at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
      [
        entry.sessionId,
        entry.machineId,
        entry.fromState,
        entry.toState,
        entry.reason,
        entry.detail ? JSON.stringify(entry.detail) : null,
        entry.at,
      ],
    );
  }

  async listAudit(sessionId: string): Promise<AuditEntry[]> {
    return auditEntries(
      await this.ex.all<AuditRow>("SELECT * FROM audit_log WHERE session_id = ? ORDER BY id", [sessionId]),
    );
  }

  async listMachineAudit(machineId: string, limit: number): Promise<AuditEntry[]> {
    const rows = await this.ex.all<AuditRow>(
      "SELECT * FROM audit_log WHERE session_id IS NULL AND machine_id = ? ORDER BY id DESC LIMIT ?",
      [machineId, limit],
    );
    return auditEntries(rows);
  }

  async putMachine(machineId: string, entry: string, at: number): Promise<void> {
    await this.ex.run(
      `INSERT INTO machines (machine_id, entry, created_at, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (machine_id) DO UPDATE SET entry = excluded.entry, updated_at = excluded.updated_at`,
      [machineId, entry, at, at],
    );
  }

  async deleteMachine(machineId: string): Promise<boolean> {
    return (await this.ex.run("DELETE FROM machines WHERE machine_id = ?", [machineId])).changes === 1;
  }

  async listMachines(): Promise<StoredMachine[]> {
    const rows = await this.ex.all<{ machine_id: string; entry: string; created_at: number; updated_at: number }>(
      "SELECT * FROM machines ORDER BY machine_id",
    );
    return rows.map((row) => ({
      machineId: row.machine_id,
      entry: row.entry,
      createdAt: Number(row.created_at),
      updatedAt: Number(row.updated_at),
    }));
  }

  async listMachineIds(): Promise<string[]> {
    const rows = await this.ex.all<{ machine_id: string }>("SELECT machine_id FROM machines ORDER BY machine_id");
    return rows.map((row) => row.machine_id);
  }

  async getMachine(machineId: string): Promise<StoredMachine | undefined> {
    const rows = await this.ex.all<{ machine_id: string; entry: string; created_at: number; updated_at: number }>(
      "SELECT * FROM machines WHERE machine_id = ?",
      [machineId],
    );
    const row = rows[0];
    return row
      ? {
          machineId: row.machine_id,
          entry: row.entry,
          createdAt: Number(row.created_at),
          updatedAt: Number(row.updated_at),
        }
      : undefined;
  }

  async setMachineUnavailable(machineId: string, reason: string, at: number): Promise<void> {
    await this.ex.run(
      `INSERT INTO machine_flags (machine_id, unavailable_reason, since) VALUES (?, ?, ?)
       ON CONFLICT (machine_id) DO UPDATE SET unavailable_reason = excluded.unavailable_reason, since = excluded.since`,
      [machineId, reason, at],
    );
  }

  async clearMachineUnavailable(machineId: string): Promise<boolean> {
    return (await this.ex.run("DELETE FROM machine_flags WHERE machine_id = ?", [machineId])).changes === 1;
  }

  async machineUnavailableReason(machineId: string): Promise<string | undefined> {
    const rows = await this.ex.all<{ unavailable_reason: string }>(
      "SELECT unavailable_reason FROM machine_flags WHERE machine_id = ?",
      [machineId],
    );
    return rows[0]?.unavailable_reason;
  }

  async listUnavailableMachines(): Promise<{ machineId: string; reason: string; since: number }[]> {
    const rows = await this.ex.all<{ machine_id: string; unavailable_reason: string; since: number | string }>(
      "SELECT machine_id, unavailable_reason, since FROM machine_flags ORDER BY machine_id",
      [],
    );
    return rows.map((row) => ({ machineId: row.machine_id, reason: row.unavailable_reason, since: Number(row.since) }));
  }

  async putOperator(name: string, passwordHash: string, at: number): Promise<void> {
    await this.ex.run(
      `INSERT INTO operators (name, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash, updated_at = excluded.updated_at`,
      [name, passwordHash, at, at],
    );
  }

  async deleteOperator(name: string): Promise<boolean> {
    return (await this.ex.run("DELETE FROM operators WHERE name = ?", [name])).changes === 1;
  }

  async getOperator(name: string): Promise<OperatorAccount | undefined> {
    return (await this.#operators("SELECT * FROM operators WHERE name = ?", [name]))[0];
  }

  listOperators(): Promise<OperatorAccount[]> {
    return this.#operators("SELECT * FROM operators ORDER BY name", []);
  }

  async #operators(sql: string, params: SqlValue[]): Promise<OperatorAccount[]> {
    const rows = await this.ex.all<{ name: string; password_hash: string; created_at: number; updated_at: number }>(
      sql,
      params,
    );
    return rows.map((row) => ({
      name: row.name,
      passwordHash: row.password_hash,
      createdAt: Number(row.created_at),
      updatedAt: Number(row.updated_at),
    }));
  }
}

function assignments(changes: PurchaseChanges): { sets: string; values: SqlValue[] } {
  const entries = Object.entries(changes).filter(([, value]) => value !== undefined) as [
    keyof PurchaseChanges,
    SqlValue,
  ][];
  return {
    sets: entries.map(([key]) => `${changeColumns[key]} = ?, `).join(""),
    values: entries.map(([, value]) => value),
  };
}

export class SqlStore extends SqlStoreOps implements Store {
  readonly dialect: SqlDriver["dialect"];
  /** The driver's counters (one object, updated as it works). */
  readonly stats: SqlDriver["stats"];
  readonly #driver: SqlDriver;

  constructor(driver: SqlDriver) {
    super(driver, driver.dialect);
    this.dialect = driver.dialect;
    this.stats = driver.stats;
    this.#driver = driver;
  }

  protected override atomically<T>(work: (ops: SqlStoreOps) => Promise<T>): Promise<T> {
    return this.#driver.transaction((tx) => work(new SqlStoreOps(tx, this.dialect)));
  }

  transaction<T>(work: (tx: StoreOps) => Promise<T>, options?: TransactionOptions): Promise<T> {
    return this.#driver.transaction((tx) => work(new SqlStoreOps(tx, this.dialect)), options);
  }

  whenDurable(): Promise<void> {
    return this.#driver.whenDurable();
  }

  /** Outbox workers running on this store, and whether the first one looked at how the last process ended. */
  #outboxWorkers = 0;
  #outboxRunChecked = false;

  async beginOutboxRun(now: number, leaseMs: number): Promise<number> {
    this.#outboxWorkers++;
    if (this.dialect !== "sqlite" || this.#outboxRunChecked) return 0;
    this.#outboxRunChecked = true;
    return this.#driver.transaction(async (ex) => {
      const marker = await ex.all<{ value: string }>("SELECT value FROM store_meta WHERE key = 'outbox-run'");
      await ex.run(
        `INSERT INTO store_meta (key, value) VALUES ('outbox-run', 'running')
         ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
      );
      if (marker[0]?.value !== "running") return 0;
      const held = await ex.all<{ outbox_id: number }>(
        `${ephemeral} INSERT INTO outbox_leases (outbox_id, owner, lease_until, retaken)
         SELECT id, 'a worker that died', ?, 0 FROM outbox WHERE status = 'pending'
         ON CONFLICT (outbox_id) DO NOTHING RETURNING outbox_id`,
        [now + leaseMs],
      );
      return held.length;
    });
  }

  async endOutboxRun(): Promise<void> {
    this.#outboxWorkers = Math.max(0, this.#outboxWorkers - 1);
    if (this.dialect !== "sqlite" || this.#outboxWorkers > 0) return;
    await this.#driver.run("UPDATE store_meta SET value = 'stopped' WHERE key = 'outbox-run'");
  }

  async ping(): Promise<void> {
    await this.#driver.all("SELECT 1 AS ok");
  }

  close(): Promise<void> {
    return this.#driver.close();
  }
}

interface AuditRow {
  session_id: string | null;
  machine_id: string | null;
  from_state: string | null;
  to_state: string | null;
  reason: string;
  detail: string | null;
  at: number;
}

function auditEntries(rows: AuditRow[]): AuditEntry[] {
  return rows.map((row) => ({
    sessionId: row.session_id,
    machineId: row.machine_id,
    fromState: row.from_state,
    toState: row.to_state,
    reason: row.reason,
    ...(row.detail ? { detail: JSON.parse(row.detail) as Record<string, unknown> } : {}),
    at: Number(row.at),
  }));
}
