import Database from "better-sqlite3";
import type { SqlDriver, SqlExecutor, SqlValue } from "./sql-driver.ts";

/**
 * SQLite through better-sqlite3: one connection, WAL, `synchronous=FULL` (money state must survive power loss, see
 * performance-facts "Durable state"), a busy timeout for a second process on the same file.
 *
 * better-sqlite3 is synchronous but our store API is asynchronous: a transaction that awaits between statements would
 * let another caller's statements run inside it. So every statement and transaction takes turns on one queue.
 */
export class SqliteDriver implements SqlDriver {
  readonly dialect = "sqlite" as const;
  readonly #db: Database.Database;
  readonly #statements = new Map<string, Database.Statement>();
  #queue: Promise<unknown> = Promise.resolve();

  constructor(file: string) {
    this.#db = new Database(file);
    this.#db.pragma("journal_mode = WAL");
    this.#db.pragma("synchronous = FULL");
    this.#db.pragma("foreign_keys = ON");
    this.#db.pragma("busy_timeout = 5000");
  }

  #exclusive<T>(work: () => Promise<T> | T): Promise<T> {
    const next = this.#queue.then(work, work);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  #prepare(sql: string): Database.Statement {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  readonly #direct: SqlExecutor = {
    all: async <T>(sql: string, params: readonly SqlValue[] = []) => {
      const statement = this.#prepare(sql);
      if (statement.reader) return statement.all(...params) as T[];
      statement.run(...params);
      return [];
    },
    run: async (sql: string, params: readonly SqlValue[] = []) => {
      const statement = this.#prepare(sql);
      if (statement.reader) return { changes: statement.all(...params).length };
      return { changes: statement.run(...params).changes };
    },
  };

  all<T>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    return this.#exclusive(() => this.#direct.all<T>(sql, params));
  }

  run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }> {
    return this.#exclusive(() => this.#direct.run(sql, params));
  }

  /** Runs DDL (several statements) outside the statement cache. */
  exec(sql: string): Promise<void> {
    return this.#exclusive(() => {
      this.#db.exec(sql);
    });
  }

  transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.#exclusive(async () => {
      this.#db.exec("BEGIN IMMEDIATE");
      try {
        const result = await work(this.#direct);
        this.#db.exec("COMMIT");
        return result;
      } catch (error) {
        if (this.#db.inTransaction) this.#db.exec("ROLLBACK");
        throw error;
      }
    });
  }

  close(): Promise<void> {
    return this.#exclusive(() => {
      this.#statements.clear();
      if (this.#db.open) this.#db.close();
    });
  }
}
