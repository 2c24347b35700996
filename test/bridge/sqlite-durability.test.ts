import { fstatSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, expect, it } from "vitest";
import { SqliteDriver, type SqliteDriverOptions } from "../../backend-bridge/store/sqlite-driver.ts";

/**
 * The SQLite store commits without syncing (synchronous=OFF) and makes its WAL durable itself, with fsync on libuv's
 * thread pool (group commit, the event loop free). What design §4.4 needs of that is checked here with the fsync
 * replaced by a gate the test opens: nothing that changed rows resolves before an fsync of the WAL that began after
 * the commit, and no read hands out a state such a commit made before that fsync.
 */

const dirs: string[] = [];
const drivers: SqliteDriver[] = [];
const gates: SyncGate[] = [];
afterEach(async () => {
  // Closing syncs what is pending: let every fsync through now.
  for (const gate of gates.splice(0)) gate.passThrough();
  for (const driver of drivers.splice(0)) await driver.close().catch(() => undefined);
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Each fsync waits for the test: `open()` lets the oldest one finish, `fail()` makes it fail. */
class SyncGate {
  readonly calls: { fd: number; release(): void; fail(error: Error): void }[] = [];
  #open = false;
  readonly syncFile = (fd: number) =>
    this.#open
      ? Promise.resolve()
      : new Promise<void>((resolve, reject) => this.calls.push({ fd, release: resolve, fail: reject }));
  passThrough(): void {
    this.#open = true;
    for (const call of this.calls.splice(0)) call.release();
  }
  async open(): Promise<void> {
    await until(() => this.calls.length > 0);
    this.calls.shift()?.release();
  }
}

/** Waits for `condition` (a timer of the driver's may be involved: real time, with a deadline far off). */
async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 1));
  expect(condition()).toBe(true);
}

/** Whether `promise` has settled after a few turns of the event loop. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(
    () => (done = true),
    () => (done = true),
  );
  for (let turn = 0; turn < 20; turn++) await new Promise((resolve) => setImmediate(resolve));
  return done;
}

async function openDriver(options: SqliteDriverOptions = {}) {
  const dir = mkdtempSync(join(tmpdir(), "seqr-vend-sqlite-"));
  dirs.push(dir);
  const file = join(dir, "bridge.db");
  const gate = new SyncGate();
  gates.push(gate);
  const driver = new SqliteDriver(file, { syncFile: gate.syncFile, ...options });
  drivers.push(driver);
  const created = driver.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
  await gate.open();
  await created;
  return { driver, gate, file };
}

function insert(driver: SqliteDriver, id: number, options?: { durable?: boolean }) {
  return driver.transaction(async (tx) => {
    await tx.run("INSERT INTO t (id, v) VALUES (?, ?)", [id, `row ${id}`]);
    return id;
  }, options);
}

it("commits in WAL mode with synchronous=OFF and no auto-checkpoint: the fsyncs are the driver's", async () => {
  const { driver } = await openDriver();
  expect(await driver.all("PRAGMA journal_mode")).toEqual([{ journal_mode: "wal" }]);
  expect(await driver.all("PRAGMA synchronous")).toEqual([{ synchronous: 0 }]);
  expect(await driver.all("PRAGMA wal_autocheckpoint")).toEqual([{ wal_autocheckpoint: 0 }]);
});

it("a commit resolves only after an fsync of the WAL file that began once the commit was written", async () => {
  const { driver, gate, file } = await openDriver();
  const commit = insert(driver, 1);
  await until(() => gate.calls.length === 1);
  // The fsync is of the WAL, and the commit is already in it: another connection reads the row.
  expect(fstatSync(gate.calls[0]!.fd).ino).toBe(statSync(`${file}-wal`).ino);
  const other = new Database(file, { readonly: true });
  expect(other.prepare("SELECT v FROM t WHERE id = 1").get()).toEqual({ v: "row 1" });
  other.close();
  expect(await settled(commit)).toBe(false);
  await gate.open();
  expect(await commit).toBe(1);
  expect(driver.stats).toMatchObject({ durableCommits: 2, syncs: 2 });
});

it("commits made while an fsync runs share the next one (group commit), and none resolves early", async () => {
  const { driver, gate } = await openDriver();
  const first = insert(driver, 1);
  await until(() => gate.calls.length === 1);
  const others = [insert(driver, 2), insert(driver, 3), insert(driver, 4)];
  expect(await settled(Promise.race(others))).toBe(false);
  await gate.open();
  await first;
  // One fsync for the three that came meanwhile; until it ends, none of them is durable.
  await until(() => gate.calls.length === 1);
  expect(await settled(Promise.race(others))).toBe(false);
  await gate.open();
  expect(await Promise.all(others)).toEqual([2, 3, 4]);
  expect(driver.stats.syncs).toBe(3);
  expect(driver.stats.durableCommits).toBe(5);
});

it("a read that could see a commit not yet durable waits for its fsync", async () => {
  const { driver, gate } = await openDriver();
  const commit = insert(driver, 7);
  await until(() => gate.calls.length === 1);
  const read = driver.all<{ v: string }>("SELECT v FROM t WHERE id = 7");
  expect(await settled(read)).toBe(false);
  await gate.open();
  await commit;
  expect(await read).toEqual([{ v: "row 7" }]);
});

it("a deferred commit resolves at once, is synced within its window, and whenDurable waits for that fsync", async () => {
  const { driver, gate } = await openDriver({ deferredDurableWithinMs: 20 });
  expect(await insert(driver, 1, { durable: false })).toBe(1);
  expect(driver.stats.deferredCommits).toBe(1);
  // A read does not wait for a deferred commit: nothing may act on it outside the store anyway.
  expect(await driver.all("SELECT v FROM t WHERE id = 1")).toEqual([{ v: "row 1" }]);
  const durable = driver.whenDurable();
  expect(await settled(durable)).toBe(false);
  await gate.open();
  await durable;
});

it("a deferred commit is made durable by the next durable commit's fsync, with no fsync of its own", async () => {
  const { driver, gate } = await openDriver({ deferredDurableWithinMs: 60_000 });
  await insert(driver, 1, { durable: false });
  const durable = driver.whenDurable();
  const next = insert(driver, 2);
  await gate.open();
  await Promise.all([durable, next]);
  expect(driver.stats.syncs).toBe(2);
});

it("a failed fsync fails its commits and every later call: the process must restart and recover from disk", async () => {
  const { driver, gate } = await openDriver();
  const commit = insert(driver, 1);
  await until(() => gate.calls.length === 1);
  gate.calls.shift()?.fail(Object.assign(new Error("EIO: i/o error, fsync"), { code: "EIO" }));
  await expect(commit).rejects.toThrow(/could not be made durable.*EIO/);
  await expect(insert(driver, 2)).rejects.toThrow(/could not be made durable/);
  await expect(driver.all("SELECT 1")).rejects.toThrow(/could not be made durable/);
});

it("checkpoints the WAL into the database itself once it is large (SQLite's own would run unsynced under OFF)", async () => {
  const { driver, gate, file } = await openDriver({ checkpointBytes: 1 });
  const commit = insert(driver, 1);
  await gate.open();
  await commit;
  // After the checkpoint every frame is in the database file: a reader without the WAL's frames sees the row.
  await until(() => {
    const other = new Database(file, { readonly: true });
    const result = other.pragma("wal_checkpoint(PASSIVE)") as { busy: number; log: number; checkpointed: number }[];
    other.close();
    return result[0]!.log === result[0]!.checkpointed;
  });
});

it("checkpoints once per checkpointBytes of WAL, not at every commit once the WAL file has once grown that large", async () => {
  const { driver, gate } = await openDriver({ checkpointBytes: 32 * 1024 });
  gate.passThrough();
  // A small row: one page (4 KiB) of WAL per commit, so about 8 commits to pass 32 KiB.
  const write = (id: number) => driver.run("INSERT INTO t (id, v) VALUES (?, ?)", [id, `row ${id}`]);
  let id = 0;
  while (driver.stats.checkpoints === 0 && id < 100) await write(++id);
  await until(() => driver.stats.checkpoints === 1);
  const commitsToFirst = id;
  expect(commitsToFirst).toBeGreaterThanOrEqual(6);
  // The WAL starts again from its beginning after a complete checkpoint: half as many commits stay below 32 KiB.
  for (let more = 0; more < commitsToFirst / 2; more++) await write(++id);
  expect(driver.stats.checkpoints).toBe(1);
});
