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
    version: 5,
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
];

export function migrationSql(migration: Migration, dialect: SqlDialect): string {
  const words =
    dialect === "sqlite"
      ? { id: "INTEGER PRIMARY KEY AUTOINCREMENT", int8: "INTEGER" }
      : { id: "BIGSERIAL PRIMARY KEY", int8: "BIGINT" };
  return migration.sql.replace(/\{(id|int8)\}/g, (_, word: "id" | "int8") => words[word]);
}
