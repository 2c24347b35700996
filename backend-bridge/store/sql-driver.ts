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

export interface SqlDriver extends SqlExecutor {
  readonly dialect: SqlDialect;
  /**
   * Runs `work` in one transaction: committed when it resolves, rolled back when it rejects. On SQLite it takes the
   * write lock at BEGIN (IMMEDIATE), on PostgreSQL it runs at READ COMMITTED on one pooled connection.
   */
  transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T>;
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
