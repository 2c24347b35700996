import pg from "pg";
import { redactUrlCredentials } from "../../platform/redact.ts";
import { numberPlaceholders, type SqlDriver, type SqlExecutor, type SqlValue } from "./sql-driver.ts";

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

  async all<T>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    const result = await this.#pool.query(numberPlaceholders(sql), params as SqlValue[]);
    return result.rows as T[];
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<{ changes: number }> {
    const result = await this.#pool.query(numberPlaceholders(sql), params as SqlValue[]);
    return { changes: result.rowCount ?? 0 };
  }

  async transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    const tx: SqlExecutor = {
      all: async <R>(sql: string, params: readonly SqlValue[] = []) =>
        (await client.query(numberPlaceholders(sql), params as SqlValue[])).rows as R[],
      run: async (sql: string, params: readonly SqlValue[] = []) => ({
        changes: (await client.query(numberPlaceholders(sql), params as SqlValue[])).rowCount ?? 0,
      }),
    };
    let broken = false;
    try {
      await client.query("BEGIN");
      const result = await work(tx);
      await client.query("COMMIT");
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

  async close(): Promise<void> {
    await this.#pool.end();
  }
}
