import type { SqlDialect } from "./sql-driver.ts";

/**
 * The one schema of the bridge's store, as numbered migrations written once for both databases. The few words that
 * differ between SQLite and PostgreSQL are placeholders filled per dialect: {id} (auto-increment key) and {int8}.
 * A migration is never edited once released: a change is a new entry at the end.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** States in which a purchase holds its machine. The partial unique index below makes the claim atomic. */
export const machineHoldingStates = ["claimed", "invoiced", "reserved", "unlocked", "vending"] as const;

const holdingList = machineHoldingStates.map((state) => `'${state}'`).join(", ");

export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: "purchases, vends, events, outbox, audit log, machines",
    sql: `
CREATE TABLE purchases (
  session_id TEXT PRIMARY KEY,
  machine_id TEXT NOT NULL,
  state TEXT NOT NULL,
  amount_minor {int8} NOT NULL,
  currency TEXT NOT NULL,
  msisdn TEXT,
  notify_secret TEXT NOT NULL UNIQUE,
  invoice_reference TEXT,
  status_version INTEGER NOT NULL DEFAULT 0,
  unlock_command_id TEXT,
  ended_vended_count INTEGER,
  ended_vended_total_minor {int8},
  ended_unknown_count INTEGER,
  end_reason TEXT,
  billed_minor {int8},
  reconciliation TEXT,
  created_at {int8} NOT NULL,
  updated_at {int8} NOT NULL,
  invoiced_at {int8},
  reserved_at {int8},
  unlocked_at {int8},
  closed_at {int8},
  row_version INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX purchases_one_holder_per_machine ON purchases (machine_id) WHERE state IN (${holdingList});
CREATE INDEX purchases_by_state ON purchases (state);
CREATE TABLE vends (
  session_id TEXT NOT NULL REFERENCES purchases (session_id),
  vend_id TEXT NOT NULL,
  event_id TEXT NOT NULL,
  selection TEXT NOT NULL,
  sku TEXT,
  name TEXT,
  price_minor {int8} NOT NULL,
  currency TEXT NOT NULL,
  outcome TEXT NOT NULL,
  evidence TEXT,
  at {int8} NOT NULL,
  PRIMARY KEY (session_id, vend_id)
);
CREATE TABLE seen_events (
  machine_id TEXT NOT NULL,
  event_id TEXT NOT NULL,
  name TEXT NOT NULL,
  session_id TEXT,
  at {int8} NOT NULL,
  PRIMARY KEY (machine_id, event_id)
);
CREATE TABLE outbox (
  id {id},
  session_id TEXT NOT NULL REFERENCES purchases (session_id),
  kind TEXT NOT NULL,
  payload TEXT NOT NULL,
  status TEXT NOT NULL,
  generation INTEGER NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at {int8} NOT NULL,
  deadline_at {int8} NOT NULL,
  lease_owner TEXT,
  lease_until {int8},
  last_error TEXT,
  outcome_unknown INTEGER NOT NULL DEFAULT 0,
  created_at {int8} NOT NULL,
  updated_at {int8} NOT NULL,
  UNIQUE (session_id, kind)
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE TABLE audit_log (
  id {id},
  session_id TEXT,
  machine_id TEXT,
  from_state TEXT,
  to_state TEXT,
  reason TEXT NOT NULL,
  detail TEXT,
  at {int8} NOT NULL
);
CREATE INDEX audit_log_by_session ON audit_log (session_id);
CREATE TABLE machines (
  machine_id TEXT PRIMARY KEY,
  entry TEXT NOT NULL,
  created_at {int8} NOT NULL,
  updated_at {int8} NOT NULL
);
CREATE TABLE machine_flags (
  machine_id TEXT PRIMARY KEY,
  unavailable_reason TEXT NOT NULL,
  since {int8} NOT NULL
);
`,
  },
  {
    version: 2,
    name: "unlock expiry, payment reference, reported vend prices",
    sql: `
ALTER TABLE purchases ADD COLUMN unlock_expires_at {int8};
ALTER TABLE purchases ADD COLUMN ers_reference TEXT;
ALTER TABLE vends ADD COLUMN reported_price_minor {int8};
`,
  },
  {
    version: 3,
    name: "what a commit actually took",
    sql: `
ALTER TABLE purchases ADD COLUMN committed_minor {int8};
`,
  },
  {
    version: 4,
    name: "outbox leases apart from the outbox, and not logged",
    // A lease is taken before every SEQR call: in the outbox it cost a durable commit each time. PostgreSQL keeps it
    // in an UNLOGGED table (no WAL, so its commit waits for no flush; emptied by a server crash, after which rows are
    // retaken and a commit checks SEQR's status first as after any unknown outcome). SQLite, one process per file,
    // keeps it in a TEMP table created at every open (outboxLeasesTemp), so this migration has nothing for it.
    // store_meta: on SQLite, whether the last outbox worker stopped cleanly (its TEMP leases died with it otherwise).
    sql: `
CREATE TABLE store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
{unlogged-leases}
`,
  },
  {
    version: 5,
    name: "refunds of committed purchases",
    sql: `
CREATE TABLE refunds (
  refund_id TEXT PRIMARY KEY,
  session_id TEXT NOT NULL REFERENCES purchases (session_id),
  amount_minor {int8} NOT NULL,
  currency TEXT NOT NULL,
  status TEXT NOT NULL,
  actor TEXT NOT NULL,
  note TEXT,
  ers_reference TEXT,
  result_code INTEGER,
  error TEXT,
  created_at {int8} NOT NULL,
  updated_at {int8} NOT NULL
);
CREATE INDEX refunds_by_session ON refunds (session_id);
CREATE INDEX refunds_by_update ON refunds (status, updated_at);
`,
  },
  {
    version: 6,
    name: "SEQR period closes, what SEQR reported, reconciliation items without a purchase",
    sql: `
CREATE TABLE seqr_period_closes (
  id {id},
  transaction_period_id TEXT,
  status TEXT NOT NULL,
  started_at {int8} NOT NULL,
  window_to {int8} NOT NULL,
  differences INTEGER NOT NULL DEFAULT 0,
  error TEXT,
  finished_at {int8} NOT NULL
);
CREATE TABLE seqr_settlements (
  ers_reference TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  payment_ers_reference TEXT,
  amount_minor {int8} NOT NULL,
  currency TEXT NOT NULL,
  transaction_period_id TEXT NOT NULL,
  reported_at {int8} NOT NULL
);
CREATE TABLE reconciliation_items (
  id {id},
  kind TEXT NOT NULL,
  ers_reference TEXT NOT NULL,
  transaction_period_id TEXT NOT NULL,
  detail TEXT,
  created_at {int8} NOT NULL,
  UNIQUE (kind, ers_reference)
);
CREATE INDEX purchases_by_ers_reference ON purchases (ers_reference);
CREATE INDEX refunds_by_ers_reference ON refunds (ers_reference);
`,
  },
  {
    version: 7,
    name: "operator accounts of the web console",
    sql: `
CREATE TABLE operators (
  name TEXT PRIMARY KEY,
  password_hash TEXT NOT NULL,
  created_at {int8} NOT NULL,
  updated_at {int8} NOT NULL
);
`,
  },
  {
    version: 8,
    name: "a machine's own audit entries (catalog changes), found without a scan",
    sql: `
CREATE INDEX audit_log_by_machine ON audit_log (machine_id, id) WHERE session_id IS NULL;
`,
  },
];

const outboxLeasesColumns = `(
  outbox_id {int8} PRIMARY KEY,
  owner TEXT NOT NULL,
  lease_until {int8} NOT NULL,
  retaken INTEGER NOT NULL DEFAULT 0
)`;

/** SQLite's leases: a TEMP table lives in the connection, so SQLite never syncs its writes. */
export const outboxLeasesTemp = `CREATE TEMP TABLE IF NOT EXISTS outbox_leases ${outboxLeasesColumns.replace(/\{int8\}/g, "INTEGER")}`;

export function migrationSql(migration: Migration, dialect: SqlDialect): string {
  const words =
    dialect === "sqlite"
      ? { id: "INTEGER PRIMARY KEY AUTOINCREMENT", int8: "INTEGER" }
      : { id: "BIGSERIAL PRIMARY KEY", int8: "BIGINT" };
  const leases = dialect === "postgres" ? `CREATE UNLOGGED TABLE outbox_leases ${outboxLeasesColumns}` : "";
  return migration.sql
    .replace("{unlogged-leases}", leases)
    .replace(/\{(id|int8)\}/g, (_, word: "id" | "int8") => words[word]);
}
