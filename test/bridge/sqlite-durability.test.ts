import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { SqliteDriver } from "../../backend-bridge/store/sqlite-driver.ts";

/**
 * The SQLite store cannot take an injected file layer (better-sqlite3 does its own I/O), so its power-loss safety is
 * checked where it is decided: in WAL mode a commit is durable at its return only with synchronous=FULL (NORMAL syncs
 * the WAL at checkpoints, so a power cut loses the last commits while the process believed them stored; design §4.4).
 * Read back from the open connection, so a setting that was never applied fails the test.
 */

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

it("the bridge's SQLite connection commits durably: WAL with synchronous=FULL, read back from the database", async () => {
  const dir = mkdtempSync(join(tmpdir(), "seqr-vend-sqlite-"));
  dirs.push(dir);
  const driver = new SqliteDriver(join(dir, "bridge.db"));
  try {
    expect(await driver.all("PRAGMA journal_mode")).toEqual([{ journal_mode: "wal" }]);
    // 2 = FULL: the WAL is fsync'd at every commit.
    expect(await driver.all("PRAGMA synchronous")).toEqual([{ synchronous: 2 }]);
  } finally {
    await driver.close();
  }
});
