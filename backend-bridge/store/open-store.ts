import { type Migration, migrationSql, migrations, outboxLeasesTemp } from "./migrations.ts";
import { PostgresDriver } from "./postgres-driver.ts";
import { preparePrivateStoreFile } from "./private-files.ts";
import type { SqlDriver } from "./sql-driver.ts";
import { SqlStore } from "./sql-store.ts";
import { SqliteDriver } from "./sqlite-driver.ts";
import type { Store } from "./store.ts";

/**
 * Opens the store named by `store.url` and brings its schema up to date:
 * `sqlite:/path/bridge.db` (or `sqlite::memory:`) for the embedded store, `postgres://user@host/db` for PostgreSQL.
 * A `?schema=name` parameter on a PostgreSQL URL selects (and creates) a schema, e.g. one per test run.
 */
export interface OpenedStore {
  store: Store;
  /** PostgreSQL only: drops the selected schema (tests clean up with it). */
  dropSchema?: () => Promise<void>;
}

export async function openStore(url: string): Promise<OpenedStore> {
  const parsed = new URL(url);
  if (parsed.protocol === "sqlite:") {
    const file = decodeURIComponent(url.slice("sqlite:".length).replace(/^\/\/(?=\/)/, ""));
    if (file === "")
      throw new RangeError("store.url sqlite: needs a file path, e.g. sqlite:/var/lib/vend-bridge/bridge.db");
    if (file !== ":memory:") preparePrivateStoreFile(file);
    const driver = new SqliteDriver(file);
    try {
      await migrate(driver, (sql) => driver.exec(sql));
      await driver.exec(outboxLeasesTemp);
    } catch (error) {
      await driver.close();
      throw error;
    }
    return { store: new SqlStore(driver) };
  }
  if (parsed.protocol === "postgres:" || parsed.protocol === "postgresql:") {
    const schema = parsed.searchParams.get("schema") ?? undefined;
    parsed.searchParams.delete("schema");
    const driver = new PostgresDriver({ url: parsed.toString(), ...(schema ? { schema } : {}) });
    try {
      await driver.ensureSchema();
      await migrate(driver, async (sql) => {
        await driver.run(sql);
      });
    } catch (error) {
      await driver.close();
      throw error;
    }
    return { store: new SqlStore(driver), dropSchema: () => driver.dropSchema() };
  }
  throw new RangeError(`store.url must start with sqlite: or postgres:, not ${parsed.protocol}`);
}

/**
 * Applies the migrations not yet recorded, each in its own transaction with its record. On PostgreSQL a
 * transaction-level advisory lock serialises bridges starting at the same moment.
 */
async function migrate(driver: SqlDriver, execDdl: (sql: string) => Promise<void>): Promise<void> {
  await execDdl(
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
  );
  for (const migration of migrations) {
    await driver.transaction(async (tx) => {
      if (driver.dialect === "postgres") await tx.all("SELECT pg_advisory_xact_lock(7301, 1)");
      const applied = await tx.all<{ version: number }>("SELECT version FROM schema_migrations WHERE version = ?", [
        migration.version,
      ]);
      if (applied.length > 0) return;
      await applyDdl(driver, tx, migration);
      await tx.run("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)", [
        migration.version,
        migration.name,
        Date.now(),
      ]);
    });
  }
}

async function applyDdl(driver: SqlDriver, tx: { run: SqlDriver["run"] }, migration: Migration): Promise<void> {
  // Both databases run DDL inside a transaction; split on `;` since prepared statements take one at a time.
  const statements = migrationSql(migration, driver.dialect)
    .split(/;\s*\n/)
    .map((statement) => statement.trim())
    .filter(Boolean);
  for (const statement of statements) await tx.run(statement);
}
