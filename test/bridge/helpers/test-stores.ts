import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { openStore } from "../../../backend-bridge/store/open-store.ts";
import type { Store } from "../../../backend-bridge/store/store.ts";
import { hasService, postgresUrl } from "../../helpers/system-tools.ts";

/**
 * The same tests run on both stores: SQLite in a temp file, PostgreSQL in a schema of its own per test (dropped
 * afterwards). PostgreSQL missing skips loudly locally and fails in CI (test/helpers/system-tools.ts).
 */
export type StoreKind = "sqlite" | "postgres";

/**
 * BRIDGE_TEST_STORES=sqlite narrows the list for a mutation run (scripts/mutation.ts records it with the run): fewer
 * tests per mutant can only lower the score measured, never raise it. The default test command never sets it.
 */
const onlySqlite = process.env.BRIDGE_TEST_STORES === "sqlite";

export const storeKinds: StoreKind[] = [
  "sqlite",
  ...(!onlySqlite && (await hasService("PostgreSQL", "127.0.0.1", 5432)) ? (["postgres"] as const) : []),
];

export interface TestStore {
  kind: StoreKind;
  url: string;
  store: Store;
  /** Opens another store on the same database (a restarted bridge, or a second instance). */
  open(): Promise<Store>;
  cleanup(): Promise<void>;
}

export async function createTestStore(kind: StoreKind): Promise<TestStore> {
  const { url, drop } = kind === "sqlite" ? sqliteDatabase() : postgresDatabase();
  const opened: Store[] = [];
  const open = async () => {
    const { store } = await openStore(url);
    opened.push(store);
    return store;
  };
  const store = await open();
  return {
    kind,
    url,
    store,
    open,
    async cleanup() {
      for (const each of opened) await each.close().catch(() => undefined);
      await drop();
    },
  };
}

/** A SQLite file in a temp dir of its own. */
function sqliteDatabase(): { url: string; drop(): Promise<void> } {
  const dir = mkdtempSync(join(tmpdir(), "vend-bridge-store-"));
  return {
    url: `sqlite:${join(dir, "bridge.db")}`,
    drop: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A PostgreSQL schema of its own in the test database. */
function postgresDatabase(): { url: string; drop(): Promise<void> } {
  const schema = `t_${randomBytes(6).toString("hex")}`;
  return {
    url: `${postgresUrl}${postgresUrl.includes("?") ? "&" : "?"}schema=${schema}`,
    async drop() {
      // A connection of its own: the test may have closed every store it opened.
      const client = new pg.Client({ connectionString: postgresUrl });
      await client.connect();
      try {
        await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      } finally {
        await client.end();
      }
    },
  };
}
