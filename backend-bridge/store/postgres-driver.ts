import pg from "pg";
import { redactUrlCredentials } from "../../platform/redact.ts";
import {
  emptyDriverStats,
  isWriteSql,
  numberPlaceholders,
  type SqlDriver,
  type SqlExecutor,
  type SqlValue,
  type TransactionOptions,
} from "./sql-driver.ts";
import { releaseUpTo } from "./wal-syncer.ts";

/** PostgreSQL's OID of int8: our epoch-millisecond and amount columns; they fit a double exactly. */
const int8Oid = 20;

export interface PostgresOptions {
  url: string;
  /** Schema to work in (created if missing); tests use one per run. Default: the server's search_path. */
  schema?: string;
  poolSize?: number;
}

/**
 * PostgreSQL through a pg Pool. Statements from several bridge instances meet in the database, so every money
 * decision there is a single atomic statement (a conditional UPDATE, an INSERT .. ON CONFLICT DO NOTHING).
 */
export class PostgresDriver implements SqlDriver {
  readonly dialect = "postgres" as const;
  readonly #pool: pg.Pool;
  readonly schema: string | undefined;
  readonly stats = emptyDriverStats();
  /** Deferred commits so far, and those known durable (a later synchronous commit flushed the WAL past them). */
  #deferredDone = 0;
  #deferredDurable = 0;
  #durableWaiters: { seq: number; resolve(): void }[] = [];
  /** PostgreSQL's wal_writer_delay: an asynchronous commit is on disk within three of it. */
  #walWriterDelayMs: number | undefined;

  constructor(options: PostgresOptions) {
    if (options.schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(options.schema)) {
      throw new RangeError(`invalid PostgreSQL schema name ${JSON.stringify(options.schema)}`);
    }
    this.schema = options.schema;
    this.#pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize ?? 10,
      // Local to this pool: never change pg's process-wide type parsers.
      types: {
        getTypeParser: ((oid: number, format?: "text" | "binary") =>
          oid === int8Oid
            ? (value: string) => Number(value)
            : pg.types.getTypeParser(oid, format as "text")) as typeof pg.types.getTypeParser,
      },
      ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
    });
    // An idle client losing its connection must not crash the process; the next query reconnects.
    this.#pool.on("error", () => undefined);
  }

  static describe(url: string): string {
    return redactUrlCredentials(url);
  }

  async ensureSchema(): Promise<void> {
    if (this.schema) await this.#pool.query(`CREATE SCHEMA IF NOT EXISTS ${this.schema}`);
  }

  async dropSchema(): Promise<void> {
    if (this.schema) await this.#pool.query(`DROP SCHEMA IF EXISTS ${this.schema} CASCADE`);
  }

  /** One statement; `changed` collects the rows a write changed (inside a transaction). */
  async #query(
    queryable: pg.Pool | pg.PoolClient,
    sql: string,
    params: readonly SqlValue[],
    changed?: { rows: number },
  ): Promise<pg.QueryResult> {
    this.stats.statements++;
    const deferredBefore = this.#deferredDone;
    const result = await queryable.query(numberPlaceholders(sql), params as SqlValue[]);
    const rows = Math.max(result.rowCount ?? 0, result.rows.length);
    if (rows > 0 && isWriteSql(sql)) {
      if (changed) changed.rows += rows;
      else this.#durablyCommitted(deferredBefore);
    }
    return result;
  }

  /** A synchronous commit flushed the WAL up to itself: the deferred commits done before it began are durable. */
  #durablyCommitted(deferredBefore: number): void {
    this.stats.durableCommits++;
    this.#markDeferredDurable(deferredBefore);
  }

  #markDeferredDurable(upTo: number): void {
    if (upTo <= this.#deferredDurable) return;
    this.#deferredDurable = upTo;
    this.#durableWaiters = releaseUpTo(this.#durableWaiters, upTo);
  }

  async all<T>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    return (await this.#query(this.#pool, sql, params)).rows as T[];
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<{ changes: number }> {
    return { changes: (await this.#query(this.#pool, sql, params)).rowCount ?? 0 };
  }

  async transaction<T>(work: (tx: SqlExecutor) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    const durable = options.durable ?? true;
    const client = await this.#pool.connect();
    const changed = { rows: 0 };
    const tx: SqlExecutor = {
      all: async <R>(sql: string, params: readonly SqlValue[] = []) =>
        (await this.#query(client, sql, params, changed)).rows as R[],
      run: async (sql: string, params: readonly SqlValue[] = []) => ({
        changes: (await this.#query(client, sql, params, changed)).rowCount ?? 0,
      }),
    };
    let broken = false;
    try {
      // Deferred: PostgreSQL's asynchronous commit (the WAL writer flushes it within 3 x wal_writer_delay).
      await client.query(durable ? "BEGIN" : "BEGIN; SET LOCAL synchronous_commit = off");
      const result = await work(tx);
      const deferredBefore = this.#deferredDone;
      await client.query("COMMIT");
      this.stats.statements += 2;
      if (changed.rows > 0) {
        if (durable) this.#durablyCommitted(deferredBefore);
        else {
          this.stats.deferredCommits++;
          this.#deferredDone++;
        }
      }
      return result;
    } catch (error) {
      try {
        await client.query("ROLLBACK");
      } catch {
        broken = true;
      }
      throw error;
    } finally {
      client.release(broken);
    }
  }

  async whenDurable(): Promise<void> {
    const count = this.#deferredDone;
    if (count <= this.#deferredDurable) return;
    const waiting = new Promise<void>((resolve) => this.#durableWaiters.push({ seq: count, resolve }));
    const delayMs = 3 * (await this.#walWriterDelay()) + 10;
    const timer = setTimeout(() => this.#markDeferredDurable(count), delayMs);
    timer.unref?.();
    await waiting;
    clearTimeout(timer);
  }

  async #walWriterDelay(): Promise<number> {
    if (this.#walWriterDelayMs === undefined) {
      const rows = await this.all<{ setting: string; unit: string | null }>(
        "SELECT setting, unit FROM pg_settings WHERE name = 'wal_writer_delay'",
      );
      const setting = Number(rows[0]?.setting ?? 200);
      this.#walWriterDelayMs = Number.isFinite(setting) && setting > 0 ? setting : 200;
    }
    return this.#walWriterDelayMs;
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}
