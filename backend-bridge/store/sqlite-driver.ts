import { closeSync, fstatSync, fsync, openSync } from "node:fs";
import Database from "better-sqlite3";
import {
  emptyDriverStats,
  isWriteSql,
  type SqlDriver,
  type SqlExecutor,
  type SqlValue,
  type TransactionOptions,
} from "./sql-driver.ts";
import { WalSyncer } from "./wal-syncer.ts";

export interface SqliteDriverOptions {
  /** Makes the WAL durable; tests put a gate here. Default: fsync(2) on libuv's thread pool. */
  syncFile?: (fd: number) => Promise<void>;
  /** The WAL is checkpointed into the database (synchronously, with its fsyncs) once it is this large. */
  checkpointBytes?: number;
  /** A commit nothing waits for is made durable within this time even if no other commit comes. */
  deferredDurableWithinMs?: number;
}

const defaultSyncFile = (fd: number) =>
  new Promise<void>((resolve, reject) => fsync(fd, (error) => (error ? reject(error) : resolve())));

/**
 * SQLite through better-sqlite3: one connection, WAL, a busy timeout for a second process on the same file.
 *
 * Durability (design §4.4) without holding the event loop: better-sqlite3 is synchronous, so with `synchronous=FULL`
 * every COMMIT ran fsync on the main thread, and a purchase's dozen commits were most of the bridge's CPU time under
 * load. Here SQLite commits with `synchronous=OFF` (the commit is written to the WAL, not synced), and the driver then
 * fsyncs the WAL file on libuv's thread pool: a commit's promise resolves only once an fsync that began after it has
 * finished, and every commit that arrives meanwhile shares the next fsync (group commit). A read waits likewise for
 * the durable commits it could have seen, so nothing acts on a state a power cut could take back. Checkpoints, which
 * SQLite would run unsynced under OFF, are the driver's: it runs them with `synchronous=FULL` (WAL and database
 * fsync'd before the WAL is reused), and auto-checkpointing is off.
 *
 * Every statement and transaction takes turns on one queue: a transaction that awaits between statements must not let
 * another caller's statements run inside it.
 */
export class SqliteDriver implements SqlDriver {
  readonly dialect = "sqlite" as const;
  readonly stats = emptyDriverStats();
  readonly #db: Database.Database;
  readonly #statements = new Map<string, Database.Statement>();
  readonly #syncer: WalSyncer;
  readonly #checkpointBytes: number;
  /** WAL size at which the next checkpoint is tried. */
  #nextCheckpointAt: number;
  #queue: Promise<unknown> = Promise.resolve();
  /** Rows changed by the open transaction: it costs a commit only if some were. */
  #changedInTransaction = 0;
  /** The WAL's descriptor, opened at the first sync (SQLite creates the file). */
  #walFd: number | undefined;
  readonly #walPath: string | undefined;

  constructor(file: string, options: SqliteDriverOptions = {}) {
    this.#db = new Database(file);
    this.#db.pragma("journal_mode = WAL");
    this.#db.pragma("foreign_keys = ON");
    this.#db.pragma("busy_timeout = 5000");
    const inMemory = file === ":memory:" || file === "";
    this.#walPath = inMemory ? undefined : `${file}-wal`;
    if (!inMemory) {
      this.#db.pragma("wal_autocheckpoint = 0");
      this.#db.pragma("synchronous = OFF");
      // SQLite reuses the WAL from its start after a complete checkpoint but keeps the file's size: truncated to 0
      // then, the file's size is what was written since, which is what #checkpointIfLarge measures.
      this.#db.pragma("journal_size_limit = 0");
    }
    this.#checkpointBytes = options.checkpointBytes ?? 4 * 1024 * 1024;
    this.#nextCheckpointAt = this.#checkpointBytes;
    const syncFile = options.syncFile ?? defaultSyncFile;
    this.#syncer = new WalSyncer({
      sync: async () => {
        if (this.#walPath === undefined) return;
        this.#walFd ??= openSync(this.#walPath, "r+");
        await syncFile(this.#walFd);
        this.stats.syncs++;
      },
      afterSync: () => this.#checkpointIfLarge(),
      deferredWithinMs: options.deferredDurableWithinMs ?? 100,
    });
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

  #count(sql: string, changes: number): void {
    this.stats.statements++;
    if (changes > 0 && isWriteSql(sql)) this.#changedInTransaction += changes;
  }

  readonly #direct: SqlExecutor = {
    all: async <T>(sql: string, params: readonly SqlValue[] = []) => {
      const statement = this.#prepare(sql);
      if (statement.reader) {
        const rows = statement.all(...params) as T[];
        this.#count(sql, rows.length);
        return rows;
      }
      this.#count(sql, statement.run(...params).changes);
      return [];
    },
    run: async (sql: string, params: readonly SqlValue[] = []) => {
      const statement = this.#prepare(sql);
      const changes = statement.reader ? statement.all(...params).length : statement.run(...params).changes;
      this.#count(sql, changes);
      return { changes };
    },
  };

  /** One statement on its own: a commit of its own when it changed rows, durable before it resolves. */
  async #single<T>(work: (ex: SqlExecutor) => Promise<T>): Promise<T> {
    const { result, commit } = await this.#exclusive(async () => {
      this.#changedInTransaction = 0;
      const result = await work(this.#direct);
      return { result, commit: this.#committed(true) };
    });
    await this.#syncer.durable(commit);
    return result;
  }

  /** Records a commit (if rows changed) and says up to which commit this caller needs durability. */
  #committed(durable: boolean): number {
    if (this.#changedInTransaction === 0) return this.#syncer.neededByReaders();
    if (durable) this.stats.durableCommits++;
    else this.stats.deferredCommits++;
    return this.#syncer.committed(durable);
  }

  all<T>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    return this.#single((ex) => ex.all<T>(sql, params));
  }

  run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }> {
    return this.#single((ex) => ex.run(sql, params));
  }

  /** Runs DDL (several statements) outside the statement cache. */
  async exec(sql: string): Promise<void> {
    const commit = await this.#exclusive(() => {
      this.#db.exec(sql);
      this.#changedInTransaction = 1;
      return this.#committed(true);
    });
    await this.#syncer.durable(commit);
  }

  async transaction<T>(work: (tx: SqlExecutor) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    const durable = options.durable ?? true;
    const { result, commit } = await this.#exclusive(async () => {
      this.#db.exec("BEGIN IMMEDIATE");
      this.#changedInTransaction = 0;
      try {
        const result = await work(this.#direct);
        this.#db.exec("COMMIT");
        this.stats.statements += 2;
        return { result, commit: this.#committed(durable) };
      } catch (error) {
        if (this.#db.inTransaction) this.#db.exec("ROLLBACK");
        throw error;
      }
    });
    if (durable) await this.#syncer.durable(commit);
    return result;
  }

  whenDurable(): Promise<void> {
    return this.#syncer.whenAllDurable();
  }

  /**
   * After an fsync: a large WAL is copied into the database, with both files fsync'd, before SQLite reuses it. A
   * checkpoint a reader kept from completing leaves the file as large: the next try waits for as much again.
   */
  #checkpointIfLarge(): Promise<void> | undefined {
    if (this.#walFd === undefined) return undefined;
    const size = fstatSync(this.#walFd).size;
    if (size < this.#checkpointBytes) this.#nextCheckpointAt = this.#checkpointBytes;
    if (size < this.#nextCheckpointAt) return undefined;
    return this.#exclusive(() => {
      const complete = this.#checkpoint();
      this.#nextCheckpointAt = complete ? this.#checkpointBytes : size + this.#checkpointBytes;
    });
  }

  /** A PASSIVE checkpoint with synchronous=FULL; true when every frame of the WAL reached the database. */
  #checkpoint(): boolean {
    this.stats.checkpoints++;
    this.#db.pragma("synchronous = FULL");
    try {
      const [result] = this.#db.pragma("wal_checkpoint(PASSIVE)") as {
        busy: number;
        log: number;
        checkpointed: number;
      }[];
      return result !== undefined && result.busy === 0 && result.log === result.checkpointed;
    } finally {
      this.#db.pragma("synchronous = OFF");
    }
  }

  async close(): Promise<void> {
    await this.#syncer.syncAll().catch(() => undefined);
    await this.#exclusive(() => {
      this.#statements.clear();
      this.#syncer.stop();
      // SQLite checkpoints at close: with FULL, so that the copy into the database is synced as well.
      if (this.#db.open) {
        if (this.#walPath !== undefined) this.#db.pragma("synchronous = FULL");
        this.#db.close();
      }
      if (this.#walFd !== undefined) closeSync(this.#walFd);
      this.#walFd = undefined;
    });
  }
}
