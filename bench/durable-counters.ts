/**
 * What a run cost on disk, counted three independent ways for bench/purchase-cost.ts: the bridge's own store counters
 * on /metrics, the fsync/fdatasync system calls of a process (strace), and PostgreSQL's WAL flushes (pg_stat_wal,
 * cluster-wide: every database of the server counts).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import pg from "pg";

export type StoreCounters = Record<"durableCommits" | "deferredCommits" | "syncs" | "statements", number>;

/** `vend_bridge_store_operations{counter=...}` from the bridge's admin listener. */
export async function storeCounters(adminUrl: string): Promise<StoreCounters> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  const counters: StoreCounters = { durableCommits: 0, deferredCommits: 0, syncs: 0, statements: 0 };
  for (const match of text.matchAll(/^vend_bridge_store_operations\{counter="(\w+)"\} (\d+)/gm)) {
    if (match[1]! in counters) counters[match[1] as keyof StoreCounters] = Number(match[2]);
  }
  return counters;
}

/** The counters once they have stopped moving: the last transition is stored a moment after SEQR saw the commit. */
export async function settledCounters(adminUrl: string): Promise<StoreCounters> {
  let last = await storeCounters(adminUrl);
  for (;;) {
    await new Promise((wake) => setTimeout(wake, 150));
    const now = await storeCounters(adminUrl);
    if (now.durableCommits === last.durableCommits && now.statements === last.statements) return now;
    last = now;
  }
}

export function difference(after: StoreCounters, before: StoreCounters): StoreCounters {
  return {
    durableCommits: after.durableCommits - before.durableCommits,
    deferredCommits: after.deferredCommits - before.deferredCommits,
    syncs: after.syncs - before.syncs,
    statements: after.statements - before.statements,
  };
}

export const straceInstalled = spawnSync("strace", ["-V"]).status === 0;

/** Counts fsync and fdatasync calls of every thread of `pid` from now until `stop()`. */
export async function countSyncCalls(pid: number): Promise<{ stop(): Promise<number> }> {
  const strace: ChildProcess = spawn("strace", ["-f", "-c", "-e", "trace=fsync,fdatasync", "-p", String(pid)], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let output = "";
  strace.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  // "strace: Process N attached with M threads": from then on every thread is traced.
  const deadline = Date.now() + 10_000;
  while (!/attached/.test(output)) {
    if (Date.now() > deadline || strace.exitCode !== null) throw new Error(`strace did not attach: ${output}`);
    await new Promise((wake) => setTimeout(wake, 20));
  }
  return {
    stop: async () => {
      const exited = new Promise((done) => strace.once("exit", done));
      strace.kill("SIGINT");
      await exited;
      // The summary table: "% time  seconds  usecs/call  calls  errors  syscall".
      let calls = 0;
      for (const match of output.matchAll(/^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(fsync|fdatasync)\s*$/gm)) {
        calls += Number(match[1]);
      }
      return calls;
    },
  };
}

/** PostgreSQL's WAL flushes and records so far, for the whole cluster. */
export async function walCounters(url: string): Promise<{ walSync: number; walRecords: number }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ wal_sync: string; wal_records: string }>(
      "SELECT wal_sync, wal_records FROM pg_stat_wal",
    );
    return { walSync: Number(rows[0]!.wal_sync), walRecords: Number(rows[0]!.wal_records) };
  } finally {
    await client.end();
  }
}
