import { describe, expect, it } from "vitest";
import { type OutboxHandler, OutboxWorker } from "../../backend-bridge/outbox/outbox-worker.ts";
import type { OutboxItem, Purchase, Store } from "../../backend-bridge/store/store.ts";
import { capturedLogs } from "../helpers/captured-logs.ts";
import { ManualClock } from "../helpers/manual-clock.ts";

/**
 * When the outbox worker looks for due rows (design §4.6): never before start() nor after stop(), one pass at a time
 * (a kick during a pass asks for exactly one more pass right after it, not a second pass beside it), one store query per
 * poll interval when idle, and a pass that fails is logged and the polling goes on. The store is a fake that counts the
 * lease queries and can hold one open, so each pass is seen as it starts: kick() reaches the query synchronously.
 */

/** A store whose only rows are the ones queued in `rows`; `hold()` keeps the next lease query open until released. */
function passStore() {
  const queries: Array<{ owner: string; now: number }> = [];
  const abandoned: Array<{ item: OutboxItem; owner: string; error: string }> = [];
  let gate: Promise<void> | undefined;
  let failNext: Error | undefined;
  const rows: OutboxItem[] = [];
  const store = {
    leaseDueOutbox: async (owner: string, now: number) => {
      queries.push({ owner, now });
      const held = gate;
      gate = undefined;
      // Undefined (no hold) resolves at once.
      await held;
      if (failNext) {
        const error = failNext;
        failNext = undefined;
        throw error;
      }
      return rows.splice(0);
    },
    getPurchase: async (): Promise<Purchase | undefined> => undefined,
    abandonOutbox: async (item: OutboxItem, owner: string, error: string) => {
      abandoned.push({ item, owner, error });
    },
  } as unknown as Store;
  return {
    store,
    queries,
    abandoned,
    rows,
    hold(): () => void {
      let release!: () => void;
      gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      return release;
    },
    failNextWith(error: Error): void {
      failNext = error;
    },
  };
}

const neverCalled: OutboxHandler = {
  attempt: async () => {
    throw new Error("no row should be attempted");
  },
  settled: async () => undefined,
};

function worker(store: Store, clock: ManualClock, logger = capturedLogs().logger): OutboxWorker {
  return new OutboxWorker({
    store,
    clock,
    logger,
    handlers: {
      commitReservation: neverCalled,
      cancelInvoice: neverCalled,
      updateInvoice: neverCalled,
      submitPaymentReceipt: neverCalled,
    },
    pollIntervalMs: 1_000,
  });
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

describe("outbox worker passes", () => {
  it("a worker not started, or stopped, runs no pass when kicked, and leaves no timer behind", async () => {
    const s = passStore();
    const clock = new ManualClock();
    const w = worker(s.store, clock);
    // The bridge kicks the worker from each transition that enqueues a row, also before start() (recovery at boot).
    w.kick();
    expect(s.queries).toHaveLength(0);
    w.start();
    expect(s.queries).toHaveLength(1);
    await until(() => clock.pending === 1, "the poll timer after the first pass");
    await w.stop();
    expect(clock.pending).toBe(0);
    w.kick();
    await clock.advance(5_000);
    expect(s.queries).toHaveLength(1);
  });

  it("when idle, queries the store once per poll interval", async () => {
    const s = passStore();
    const clock = new ManualClock();
    const w = worker(s.store, clock);
    w.start();
    await until(() => clock.pending === 1, "the poll timer after the first pass");
    expect(s.queries).toHaveLength(1);
    for (let pass = 2; pass <= 4; pass += 1) {
      await clock.advance(999);
      expect(s.queries).toHaveLength(pass - 1);
      await clock.advance(1);
      await until(() => s.queries.length === pass && clock.pending === 1, `pass ${pass}`);
    }
    expect(s.queries.map((query) => query.now - s.queries[0]!.now)).toEqual([0, 1_000, 2_000, 3_000]);
    await w.stop();
  });

  it("a kick during a pass starts no second pass beside it, and exactly one more right after it", async () => {
    const s = passStore();
    const clock = new ManualClock();
    const w = worker(s.store, clock);
    const release = s.hold();
    w.start();
    expect(s.queries).toHaveLength(1);
    // A transition enqueues a row while the pass is still querying: that row may have been missed by the query.
    w.kick();
    w.kick();
    expect(s.queries).toHaveLength(1);
    release();
    // The pass asked for runs at once, without waiting for the poll interval; then one poll timer, not two.
    await until(() => s.queries.length === 2 && clock.pending === 1, "the pass the kick asked for");
    expect(s.queries[1]?.now).toBe(s.queries[0]?.now);
    await clock.advance(1_000);
    await until(() => s.queries.length === 3 && clock.pending === 1, "the next poll");
    expect(s.queries).toHaveLength(3);
    await w.stop();
  });

  it("stop() during a pass waits for it and schedules nothing after it", async () => {
    const s = passStore();
    const clock = new ManualClock();
    const w = worker(s.store, clock);
    const release = s.hold();
    w.start();
    let stopped = false;
    const stopping = w.stop().then(() => {
      stopped = true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(stopped).toBe(false);
    release();
    await stopping;
    expect(clock.pending).toBe(0);
    await clock.advance(5_000);
    expect(s.queries).toHaveLength(1);
  });

  it("a pass that fails is logged for the operator and the worker polls again at the next interval", async () => {
    const s = passStore();
    const clock = new ManualClock();
    const logs = capturedLogs();
    const w = worker(s.store, clock, logs.logger);
    s.failNextWith(new Error("database is locked"));
    w.start();
    await until(() => clock.pending === 1, "the poll timer after the failed pass");
    const failed = logs.lines.filter((line) => line.msg === "outbox pass failed");
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ level: "error", module: "outbox", err: { message: "database is locked" } });
    await clock.advance(1_000);
    await until(() => s.queries.length === 2, "the next poll");
    await w.stop();
  });

  it("a row whose purchase is gone is abandoned with the reason, by the owner that leased it, without a SEQR call", async () => {
    const s = passStore();
    const clock = new ManualClock();
    const row = { id: 7, sessionId: "s-gone", kind: "commitReservation", attempts: 0 } as OutboxItem;
    s.rows.push(row);
    const w = worker(s.store, clock);
    expect(await w.runDue()).toBe(1);
    expect(s.abandoned).toEqual([{ item: row, owner: s.queries[0]?.owner, error: "purchase not found" }]);
  });

  it("each worker leases under its own owner name, so one worker can never settle another's row", async () => {
    const s = passStore();
    const clock = new ManualClock();
    await worker(s.store, clock).runDue();
    await worker(s.store, clock).runDue();
    const [first, second] = s.queries.map((query) => query.owner);
    expect(first).toMatch(/^w-[0-9a-f]{12}$/);
    expect(second).toMatch(/^w-[0-9a-f]{12}$/);
    expect(first).not.toBe(second);
  });
});
