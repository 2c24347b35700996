import type { SqlDialect, SqlDriverStats, TransactionOptions } from "./sql-driver.ts";

/**
 * The bridge's durable store: purchases and their state machine, vends, seen events (deduplication), the outbox of
 * SEQR calls that must eventually happen, the audit log, the machine registry and machine flags. One interface, two
 * implementations of the same SQL (SQLite embedded, PostgreSQL by URL).
 */

export const purchaseStates = [
  "claimed",
  "invoiced",
  "reserved",
  "unlocked",
  "vending",
  "committing",
  "committed",
  "cancelled",
  "failed",
] as const;
export type PurchaseState = (typeof purchaseStates)[number];

export const terminalStates: readonly PurchaseState[] = ["committed", "cancelled", "failed"];

export interface Purchase {
  sessionId: string;
  machineId: string;
  state: PurchaseState;
  /** The reservation: the customer's offered maximum, integer minor units. */
  amountMinor: number;
  currency: string;
  /** The customer's phone number while the session runs; masked afterwards unless store.keepMsisdn. */
  msisdn: string | null;
  notifySecret: string;
  invoiceReference: string | null;
  statusVersion: number;
  unlockCommandId: string | null;
  /**
   * Until when (bridge clock) the latest unlock sent may be honoured by the machine: its expiresAt. Written before the
   * unlock is sent; null until then.
   */
  unlockExpiresAt: number | null;
  /** SEQR's payment reference once committed (PAID): refunds need it. */
  ersReference: string | null;
  endedVendedCount: number | null;
  endedVendedTotalMinor: number | null;
  endedUnknownCount: number | null;
  endReason: string | null;
  /** What was (or is being) committed. Never more than amountMinor. */
  billedMinor: number | null;
  /** What SEQR actually took: billedMinor once committed, 0 when the commit failed; null before either. */
  committedMinor: number | null;
  /** Why a person must look at this purchase (unknown vends, missing events, SEQR refusals); null when clean. */
  reconciliation: string | null;
  createdAt: number;
  updatedAt: number;
  invoicedAt: number | null;
  reservedAt: number | null;
  unlockedAt: number | null;
  closedAt: number | null;
  rowVersion: number;
}

export interface NewPurchase {
  sessionId: string;
  machineId: string;
  amountMinor: number;
  currency: string;
  msisdn: string | null;
  notifySecret: string;
  at: number;
}

export type PurchaseChanges = Partial<
  Pick<
    Purchase,
    | "msisdn"
    | "invoiceReference"
    | "statusVersion"
    | "unlockCommandId"
    | "unlockExpiresAt"
    | "ersReference"
    | "endedVendedCount"
    | "endedVendedTotalMinor"
    | "endedUnknownCount"
    | "endReason"
    | "billedMinor"
    | "committedMinor"
    | "invoicedAt"
    | "reservedAt"
    | "unlockedAt"
    | "closedAt"
    | "reconciliation"
  >
>;

export type VendOutcome = "vended" | "failed" | "unknown";

export interface VendRecord {
  sessionId: string;
  vendId: string;
  eventId: string;
  selection: string;
  sku: string | null;
  name: string | null;
  /** What is billed for this vend: never above the registry's catalog price of the selection. */
  priceMinor: number;
  /** The price the machine reported, when it differs from priceMinor (kept as evidence); otherwise null. */
  reportedPriceMinor?: number | null;
  currency: string;
  outcome: VendOutcome;
  evidence: string | null;
  at: number;
}

export const outboxKinds = ["updateInvoice", "commitReservation", "cancelInvoice", "submitPaymentReceipt"] as const;
export type OutboxKind = (typeof outboxKinds)[number];
export type OutboxStatus = "pending" | "done" | "dead";

export interface OutboxItem {
  id: number;
  sessionId: string;
  kind: OutboxKind;
  payload: Record<string, unknown>;
  status: OutboxStatus;
  generation: number;
  attempts: number;
  nextAttemptAt: number;
  deadlineAt: number;
  lastError: string | null;
  /**
   * The last attempt may have reached SEQR (timeout, lost connection, or its worker died mid-call and the row was
   * retaken after the lease ran out): check the status before repeating it.
   */
  outcomeUnknown: boolean;
}

export interface NewOutboxItem {
  sessionId: string;
  kind: OutboxKind;
  payload: Record<string, unknown>;
  at: number;
  deadlineAt: number;
  /** Re-arm an existing row of this kind (updateInvoice after each vend); otherwise an existing row is kept. */
  rearm?: boolean;
}

export interface AuditEntry {
  sessionId: string | null;
  machineId: string | null;
  fromState: string | null;
  toState: string | null;
  reason: string;
  detail?: Record<string, unknown>;
  at: number;
}

/** What the operator's purchase queries filter on; every field optional (no field: every purchase). */
export interface PurchaseQuery {
  machineId?: string;
  states?: readonly PurchaseState[];
  /** createdAt >= from (bridge clock, ms). */
  from?: number;
  /** createdAt < to. */
  to?: number;
  /** Only purchases with a reconciliation flag. */
  flagged?: boolean;
  /** Newest first; no limit when absent. */
  limit?: number;
}

/**
 * A refund of a committed purchase. `pending`: written before SEQR is asked; `refunded`: SEQR answered 0 with the
 * refund's ersReference; `failed`: SEQR refused (nothing was refunded); `unknown`: no answer (a timeout): it may have
 * gone through, so it counts as refunded until a person or the period close says otherwise.
 */
export type RefundStatus = "pending" | "refunded" | "failed" | "unknown";

export interface RefundRecord {
  refundId: string;
  sessionId: string;
  amountMinor: number;
  currency: string;
  status: RefundStatus;
  /** Who asked for it (an operator's name, a script). */
  actor: string;
  note: string | null;
  /** The refund's own ersReference, once SEQR answered 0. */
  ersReference: string | null;
  resultCode: number | null;
  error: string | null;
  createdAt: number;
  updatedAt: number;
}

export type RefundChanges = Partial<Pick<RefundRecord, "status" | "ersReference" | "resultCode" | "error">>;

/** One run of the period close: SEQR's period it closed, and the window of our ledger it checked up to. */
export interface PeriodCloseRecord {
  transactionPeriodId: string | null;
  status: "closed" | "failed";
  startedAt: number;
  /** Our purchases and refunds settled up to this time were checked against SEQR's reports. */
  windowTo: number;
  differences: number;
  error: string | null;
  finishedAt: number;
}

/** A payment or refund as SEQR's report of a closed period listed it. */
export interface SeqrSettlement {
  ersReference: string;
  kind: "payment" | "refund";
  paymentErsReference: string | null;
  amountMinor: number;
  currency: string;
  transactionPeriodId: string;
  reportedAt: number;
}

/** A difference with SEQR that no purchase of ours can carry (SEQR knows money the bridge never saw). */
export interface ReconciliationItem {
  kind: string;
  ersReference: string;
  transactionPeriodId: string;
  detail: Record<string, unknown>;
  createdAt: number;
}

export interface StoredMachine {
  machineId: string;
  /** The registry entry as JSON (machineEntry schema, mqttPassword replaced by a hash). */
  entry: string;
  createdAt: number;
  updatedAt: number;
}

/** An operator of the web console: a name and a password hash (broker/password-hash.ts), never the password. */
export interface OperatorAccount {
  name: string;
  passwordHash: string;
  createdAt: number;
  updatedAt: number;
}

/** Operations available both on the store and inside one of its transactions. */
export interface StoreOps {
  /** Inserts a purchase in state `claimed` unless the machine is held by another; undefined when it is. */
  claimMachine(purchase: NewPurchase): Promise<Purchase | undefined>;
  /**
   * Moves a purchase from one of `from` to `to` with `changes`, and writes the audit entry, atomically. Undefined
   * (nothing changed) when the purchase is not in one of `from`: someone else moved it first.
   */
  transition(
    sessionId: string,
    from: readonly PurchaseState[],
    to: PurchaseState,
    changes: PurchaseChanges,
    audit: { reason: string; detail?: Record<string, unknown>; at: number },
  ): Promise<Purchase | undefined>;
  /** Changes fields without a state change. */
  updatePurchase(sessionId: string, changes: PurchaseChanges, at: number): Promise<void>;
  /** Adds a reason to the purchase's reconciliation flag (and the audit log). */
  flagReconciliation(sessionId: string, reason: string, at: number, detail?: Record<string, unknown>): Promise<void>;
  getPurchase(sessionId: string): Promise<Purchase | undefined>;
  /**
   * getPurchase that, inside a transaction, also holds the purchase's row until the transaction ends (PostgreSQL:
   * SELECT ... FOR UPDATE; SQLite's write transaction holds the whole database already). Every transaction that
   * decides on a purchase takes it first, so that two bridge instances handling events of one session run one after
   * the other, each seeing what the other committed.
   */
  lockPurchase(sessionId: string): Promise<Purchase | undefined>;
  findPurchaseBySecret(notifySecret: string): Promise<Purchase | undefined>;
  /** Purchases not yet committed, cancelled or failed. */
  listOpenPurchases(): Promise<Purchase[]>;
  holderOf(machineId: string): Promise<Purchase | undefined>;
  listPurchases(options?: { machineId?: string; limit?: number }): Promise<Purchase[]>;
  /** The operator's purchase list: newest first, filtered (see PurchaseQuery). */
  queryPurchases(query: PurchaseQuery): Promise<Purchase[]>;
  findPurchaseByInvoiceReference(invoiceReference: string): Promise<Purchase | undefined>;
  /** The vends of many purchases at once (reports), ordered by session, time and vend id. */
  listVendsOf(sessionIds: readonly string[]): Promise<VendRecord[]>;

  /** True the first time an event id is seen for a machine; false for a duplicate. */
  markEventSeen(
    machineId: string,
    eventId: string,
    name: string,
    sessionId: string | null,
    at: number,
  ): Promise<boolean>;
  /** "conflict": the vend already has another outcome stored (kept; the new one is not). */
  insertVend(vend: VendRecord): Promise<"inserted" | "duplicate" | "conflict">;
  listVends(sessionId: string): Promise<VendRecord[]>;

  enqueueOutbox(item: NewOutboxItem): Promise<void>;
  getOutbox(sessionId: string, kind: OutboxKind): Promise<OutboxItem | undefined>;
  listOutbox(sessionId?: string): Promise<OutboxItem[]>;
  /** Takes up to `limit` due rows for `leaseMs` (rows of a dead instance are retaken when the lease ends). */
  leaseDueOutbox(owner: string, now: number, leaseMs: number, limit: number): Promise<OutboxItem[]>;
  /** Done, unless the row was re-armed meanwhile (then it stays pending and is sent again). */
  completeOutbox(item: OutboxItem, owner: string, at: number): Promise<boolean>;
  retryOutbox(
    item: OutboxItem,
    owner: string,
    next: { at: number; nextAttemptAt: number; error: string; outcomeUnknown: boolean; countAttempt?: boolean },
  ): Promise<void>;
  abandonOutbox(item: OutboxItem, owner: string, error: string, at: number): Promise<void>;

  /** False when a refund with this id exists already (it is kept as it is). */
  insertRefund(refund: Omit<RefundRecord, "updatedAt">): Promise<boolean>;
  updateRefund(refundId: string, changes: RefundChanges, at: number): Promise<void>;
  getRefund(refundId: string): Promise<RefundRecord | undefined>;
  listRefunds(sessionId: string): Promise<RefundRecord[]>;

  findPurchaseByErsReference(ersReference: string): Promise<Purchase | undefined>;
  findRefundByErsReference(ersReference: string): Promise<RefundRecord | undefined>;
  /** Committed purchases whose session closed in (from, to]. */
  listCommittedClosedBetween(from: number, to: number): Promise<Purchase[]>;
  /** Refunds SEQR confirmed (status refunded) in (from, to]. */
  listRefundsSettledBetween(from: number, to: number): Promise<RefundRecord[]>;
  recordPeriodClose(close: PeriodCloseRecord): Promise<void>;
  /** The latest successful close. */
  lastPeriodClose(): Promise<PeriodCloseRecord | undefined>;
  insertSeqrSettlements(settlements: readonly SeqrSettlement[]): Promise<void>;
  reportedBySeqr(ersReferences: readonly string[]): Promise<Set<string>>;
  addReconciliationItem(item: ReconciliationItem): Promise<boolean>;
  listReconciliationItems(): Promise<ReconciliationItem[]>;

  appendAudit(entry: AuditEntry): Promise<void>;
  listAudit(sessionId: string): Promise<AuditEntry[]>;
  /** A machine's own entries (no purchase: a catalog change, say), newest first. */
  listMachineAudit(machineId: string, limit: number): Promise<AuditEntry[]>;

  putMachine(machineId: string, entry: string, at: number): Promise<void>;
  deleteMachine(machineId: string): Promise<boolean>;
  listMachines(): Promise<StoredMachine[]>;
  /** Only the ids, sorted: what the fleet link asks every few seconds, without reading every entry. */
  listMachineIds(): Promise<string[]>;
  getMachine(machineId: string): Promise<StoredMachine | undefined>;

  setMachineUnavailable(machineId: string, reason: string, at: number): Promise<void>;
  clearMachineUnavailable(machineId: string): Promise<boolean>;
  machineUnavailableReason(machineId: string): Promise<string | undefined>;
  /** Every machine flagged unavailable, for the periodic re-check (fleet/availability-recheck.ts). */
  listUnavailableMachines(): Promise<{ machineId: string; reason: string; since: number }[]>;
  /** Adds an operator or replaces its password hash. */
  putOperator(name: string, passwordHash: string, at: number): Promise<void>;
  /** False when there was no such operator. */
  deleteOperator(name: string): Promise<boolean>;
  getOperator(name: string): Promise<OperatorAccount | undefined>;
  listOperators(): Promise<OperatorAccount[]>;
}

export interface Store extends StoreOps {
  readonly dialect: SqlDialect;
  /**
   * Runs `work` atomically: all of its writes or none. Resolves once the commit is durable, unless `durable: false`
   * (see TransactionOptions: only for a change whose loss in a power cut is harmless).
   */
  transaction<T>(work: (tx: StoreOps) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /**
   * Called by an outbox worker when it starts. SQLite keeps leases in a TEMP table, gone with a process that died:
   * on the first call for this store, if the workers of the last process that opened it did not all stop cleanly, every pending row may have had a SEQR call in flight, so each gets a
   * lease of a dead owner for `leaseMs` (retaken after it, with the outcome unknown, as a dead worker's row always is).
   * PostgreSQL's leases outlive a dead process: nothing to do. Returns how many rows were held back.
   */
  beginOutboxRun(now: number, leaseMs: number): Promise<number>;
  /** An outbox worker stopped cleanly (no SEQR call in flight); once none runs, the store is marked stopped. */
  endOutboxRun(): Promise<void>;

  /** Resolves once every commit made so far is durable, deferred ones included (an acknowledgement waits for it). */
  whenDurable(): Promise<void>;
  /** Round trips and commits since the store opened (tests and benchmarks count what a purchase costs). */
  readonly stats: Readonly<SqlDriverStats>;
  /** A cheap round trip, for /healthz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
