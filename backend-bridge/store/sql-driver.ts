/**
 * The small SQL surface the store is written against, so that one store implementation runs on SQLite and on
 * PostgreSQL. SQL is written with `?` placeholders; the PostgreSQL driver numbers them ($1, $2, ...).
 */
export type SqlDialect = "sqlite" | "postgres";

export type SqlValue = string | number | null;

export interface SqlExecutor {
  all<T>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  /** Runs a statement; `changes` is the number of rows inserted, updated or deleted. */
  run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }>;
}

/**
 * What the driver has done since it opened. `durableCommits`: commits that changed rows and were waited on until
 * durable (design §4.4); `deferredCommits`: commits whose durability nothing waited for (they become durable with the
 * next durable commit, or within `deferredDurableWithinMs`); `syncs`: fsyncs of SQLite's WAL the driver ran (one
 * covers every commit before it); `statements`: round trips, BEGIN and COMMIT included. Tests prove what a purchase
 * costs with them, the bench prints them per purchase.
 */
export interface SqlDriverStats {
  statements: number;
  durableCommits: number;
  deferredCommits: number;
  syncs: number;
  /** SQLite: checkpoints the driver ran (each fsyncs the WAL and the database on the event loop). */
  checkpoints: number;
}

export function emptyDriverStats(): SqlDriverStats {
  return { statements: 0, durableCommits: 0, deferredCommits: 0, syncs: 0, checkpoints: 0 };
}

export interface TransactionOptions {
  /**
   * false: the commit does not wait until it is durable. Only for a change whose loss in a power cut is harmless
   * (it is redone: a row re-sent, an event the agent sends again because it was not acknowledged) and on which
   * nothing outside the store acts before `whenDurable()`. Default true.
   */
  durable?: boolean;
}

export interface SqlDriver extends SqlExecutor {
  readonly dialect: SqlDialect;
  readonly stats: Readonly<SqlDriverStats>;
  /**
   * Runs `work` in one transaction: committed when it resolves, rolled back when it rejects. On SQLite it takes the
   * write lock at BEGIN (IMMEDIATE), on PostgreSQL it runs at READ COMMITTED on one pooled connection. It resolves
   * once the commit is durable (unless `durable: false`).
   */
  transaction<T>(work: (tx: SqlExecutor) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /** Resolves once every commit made before the call is durable (deferred ones included). */
  whenDurable(): Promise<void>;
  close(): Promise<void>;
}

/** `?` -> `$1`, `$2`, ... (our SQL never has a `?` inside a string literal). */
export function numberPlaceholders(sql: string): string {
  let index = 0;
  return sql.replace(/\?/g, () => `$${++index}`);
}

/** `(?, ?, ?)` for an IN list of `count` values. */
export function placeholders(count: number): string {
  return `(${Array.from({ length: count }, () => "?").join(", ")})`;
}

/** True for a statement that can change rows: INSERT, UPDATE, DELETE, or a CTE holding one. */
export function isWriteSql(sql: string): boolean {
  return (
    /^\s*(INSERT|UPDATE|DELETE)\b/i.test(sql) || (/^\s*WITH\b/i.test(sql) && /\b(INSERT|UPDATE|DELETE)\b/i.test(sql))
  );
}
