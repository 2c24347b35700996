import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { openStore } from "../../backend-bridge/store/open-store.ts";
import type { NewPurchase, PurchaseState, Store } from "../../backend-bridge/store/store.ts";
import { createTestStore, storeKinds, type TestStore } from "./helpers/test-stores.ts";

const purchase = (sessionId: string, machineId = "M1"): NewPurchase => ({
  sessionId,
  machineId,
  amountMinor: 2000,
  currency: "EUR",
  msisdn: "46701234567",
  notifySecret: `secret-${sessionId}`,
  at: 1_000,
});

describe.each(storeKinds)("store on %s", (kind) => {
  let t: TestStore;
  afterEach(async () => {
    await t?.cleanup();
  });

  it("migrates once: opening the same database again changes nothing", async () => {
    t = await createTestStore(kind);
    await t.store.claimMachine(purchase("s1"));
    const again = await t.open();
    expect((await again.getPurchase("s1"))?.state).toBe("claimed");
  });

  it("claims a machine atomically: 100 concurrent claims, one winner (PostgreSQL: from two store instances)", async () => {
    t = await createTestStore(kind);
    // SQLite is the single-instance store: two connections in one process would wait on each other's lock
    // synchronously. Several bridge instances share PostgreSQL, so there the claims come from two pools.
    const stores: Store[] = kind === "postgres" ? [t.store, await t.open()] : [t.store];
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => (stores[i % stores.length] as Store).claimMachine(purchase(`s${i}`))),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    // Other machines are independent; a closed purchase frees the machine.
    expect(await t.store.claimMachine(purchase("other", "M2"))).toBeDefined();
    const holder = await t.store.holderOf("M1");
    await t.store.transition(holder!.sessionId, ["claimed"], "failed", {}, { reason: "test", at: 2_000 });
    expect(await t.store.claimMachine(purchase("next"))).toBeDefined();
  });

  it("transitions only from the expected state, with an audit entry each", async () => {
    t = await createTestStore(kind);
    await t.store.claimMachine(purchase("s1"));
    expect(await t.store.transition("s1", ["invoiced"], "reserved", {}, { reason: "wrong", at: 2 })).toBeUndefined();
    const [a, b] = await Promise.all([
      t.store.transition(
        "s1",
        ["claimed"],
        "invoiced",
        { invoiceReference: "r1", invoicedAt: 3 },
        { reason: "a", at: 3 },
      ),
      t.store.transition("s1", ["claimed"], "failed", {}, { reason: "b", at: 3 }),
    ]);
    expect([a, b].filter(Boolean)).toHaveLength(1);
    const audit = await t.store.listAudit("s1");
    expect(audit.map((entry) => entry.toState)).toEqual(["claimed", (a ?? b)!.state]);
  });

  it("racing transitions (PostgreSQL: from two store instances) keep one consistent audit chain", async () => {
    t = await createTestStore(kind);
    const stores: Store[] = kind === "postgres" ? [t.store, await t.open()] : [t.store];
    const moves: [PurchaseState[], PurchaseState][] = [
      [["reserved"], "unlocked"],
      [["reserved", "unlocked"], "vending"],
      [["reserved", "unlocked", "vending"], "cancelled"],
      [["unlocked", "vending"], "committing"],
    ];
    for (let round = 0; round < 20; round++) {
      const sessionId = `r${round}`;
      await t.store.claimMachine(purchase(sessionId, `M-${round}`));
      await t.store.transition(sessionId, ["claimed"], "reserved", { reservedAt: 5 }, { reason: "setup", at: 5 });
      const results = await Promise.all(
        [...moves, ...moves].map(([from, to], i) =>
          (stores[i % stores.length] as Store).transition(sessionId, from, to, {}, { reason: `m${i}`, at: 10 + i }),
        ),
      );
      const audit = await t.store.listAudit(sessionId);
      // Every stored move follows from the one before it, and the row ends where the last audit entry says.
      expect(audit.slice(2).length).toBe(results.filter(Boolean).length);
      for (let i = 1; i < audit.length; i++) expect(audit[i]?.fromState).toBe(audit[i - 1]?.toState);
      const final = await t.store.getPurchase(sessionId);
      expect(final?.state).toBe(audit.at(-1)?.toState);
      expect(final?.rowVersion).toBe(audit.length - 1);
      for (const moved of results.filter(Boolean)) expect(moved?.sessionId).toBe(sessionId);
    }
  });

  it("deduplicates events and vends", async () => {
    t = await createTestStore(kind);
    await t.store.claimMachine(purchase("s1"));
    expect(await t.store.markEventSeen("M1", "e1", "vended", "s1", 1)).toBe(true);
    expect(await t.store.markEventSeen("M1", "e1", "vended", "s1", 1)).toBe(false);
    expect(await t.store.markEventSeen("M2", "e1", "vended", null, 1)).toBe(true);
    const vend = {
      sessionId: "s1",
      vendId: "v1",
      eventId: "e1",
      selection: "A1",
      sku: "W",
      name: "Water",
      priceMinor: 150,
      currency: "EUR",
      outcome: "vended" as const,
      evidence: "vend-success",
      at: 1,
    };
    expect(await t.store.insertVend(vend)).toBe("inserted");
    expect(await t.store.insertVend(vend)).toBe("duplicate");
    expect(await t.store.insertVend({ ...vend, outcome: "unknown" })).toBe("conflict");
    expect(await t.store.listVends("s1")).toHaveLength(1);
  });

  it("outbox: leases, re-arms by generation, orders the commit after the invoice update, retakes expired leases", async () => {
    t = await createTestStore(kind);
    await t.store.claimMachine(purchase("s1"));
    await t.store.enqueueOutbox({ sessionId: "s1", kind: "updateInvoice", payload: {}, at: 10, deadlineAt: 1_000 });
    await t.store.enqueueOutbox({
      sessionId: "s1",
      kind: "commitReservation",
      payload: { amountMinor: 150 },
      at: 10,
      deadlineAt: 1_000,
    });
    await t.store.enqueueOutbox({
      sessionId: "s1",
      kind: "commitReservation",
      payload: { amountMinor: 999 },
      at: 10,
      deadlineAt: 1_000,
    });
    const first = await t.store.leaseDueOutbox("w1", 20, 100, 10);
    expect(first.map((item) => item.kind)).toEqual(["updateInvoice"]);
    // Leased rows are not handed out twice.
    expect(await t.store.leaseDueOutbox("w2", 21, 100, 10)).toEqual([]);
    // A vend re-arms the update while it is in flight: completing the old generation keeps it pending.
    await t.store.enqueueOutbox({
      sessionId: "s1",
      kind: "updateInvoice",
      payload: {},
      at: 22,
      deadlineAt: 1_000,
      rearm: true,
    });
    expect(await t.store.completeOutbox(first[0]!, "w1", 23)).toBe(false);
    const again = await t.store.leaseDueOutbox("w1", 24, 100, 10);
    expect(again.map((item) => [item.kind, item.generation])).toEqual([["updateInvoice", 1]]);
    expect(await t.store.completeOutbox(again[0]!, "w1", 25)).toBe(true);
    const commit = await t.store.leaseDueOutbox("w1", 26, 100, 10);
    expect(commit.map((item) => [item.kind, item.payload])).toEqual([["commitReservation", { amountMinor: 150 }]]);
    // w1 dies holding the lease: after it expires another worker takes the row.
    expect(await t.store.leaseDueOutbox("w2", 100, 100, 10)).toEqual([]);
    const retaken = await t.store.leaseDueOutbox("w2", 127, 100, 10);
    expect(retaken.map((item) => item.kind)).toEqual(["commitReservation"]);
    // w1 may have reached SEQR before it died: the retaken attempt must treat the outcome as unknown.
    expect(commit[0]?.outcomeUnknown).toBe(false);
    expect(retaken[0]?.outcomeUnknown).toBe(true);
    await t.store.retryOutbox(retaken[0]!, "w2", {
      at: 128,
      nextAttemptAt: 500,
      error: "timeout",
      outcomeUnknown: true,
    });
    const row = await t.store.getOutbox("s1", "commitReservation");
    expect(row).toMatchObject({
      status: "pending",
      attempts: 1,
      nextAttemptAt: 500,
      outcomeUnknown: true,
      lastError: "timeout",
    });
  });

  it("keeps machines and machine flags", async () => {
    t = await createTestStore(kind);
    await t.store.putMachine("M9", '{"x":1}', 1);
    await t.store.putMachine("M9", '{"x":2}', 2);
    expect((await t.store.listMachines()).map((m) => [m.machineId, m.entry])).toEqual([["M9", '{"x":2}']]);
    await t.store.putMachine("M10", '{"x":3}', 3);
    expect(await t.store.listMachineIds()).toEqual(["M10", "M9"]);
    expect(await t.store.deleteMachine("M10")).toBe(true);
    expect(await t.store.deleteMachine("M9")).toBe(true);
    expect(await t.store.deleteMachine("M9")).toBe(false);
    await t.store.setMachineUnavailable("M1", "fault:jam", 3);
    expect(await t.store.machineUnavailableReason("M1")).toBe("fault:jam");
    expect(await t.store.clearMachineUnavailable("M1")).toBe(true);
    expect(await t.store.machineUnavailableReason("M1")).toBeUndefined();
  });

  it("rolls a failed transaction back completely", async () => {
    t = await createTestStore(kind);
    await expect(
      t.store.transaction(async (tx) => {
        await tx.claimMachine(purchase("s1"));
        await tx.markEventSeen("M1", "e1", "x", "s1", 1);
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(await t.store.getPurchase("s1")).toBeUndefined();
    expect(await t.store.markEventSeen("M1", "e1", "x", "s1", 1)).toBe(true);
  });
});

describe("the SQLite store's durability settings", () => {
  it("uses WAL, with the fsyncs its driver's (synchronous=OFF, see sqlite-durability.test.ts)", async () => {
    const t = await createTestStore("sqlite");
    try {
      const file = t.url.slice("sqlite:".length);
      const db = new Database(file, { readonly: true });
      expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
      db.close();
      // synchronous is per connection: check the store's own.
      const { store } = await openStore(t.url);
      const driver = (store as unknown as { ex: { all<T>(sql: string): Promise<T[]> } }).ex;
      expect(await driver.all<{ synchronous: number }>("PRAGMA synchronous")).toEqual([{ synchronous: 0 }]);
      await store.close();
    } finally {
      await t.cleanup();
    }
  });

  it("refuses an unknown store URL scheme", async () => {
    await expect(openStore("mysql://x/y")).rejects.toThrow(/sqlite: or postgres:/);
  });
});

describe("SQLite outbox leases across processes (TEMP table: they die with the process)", () => {
  let t: TestStore;
  afterEach(async () => {
    await t?.cleanup();
  });

  async function pendingRow(store: Store, sessionId: string): Promise<void> {
    await store.claimMachine(purchase(sessionId));
    await store.enqueueOutbox({ sessionId, kind: "commitReservation", payload: {}, at: 1_000, deadlineAt: 900_000 });
  }

  it("after a bridge that died, its pending rows wait out a lease and are retaken with the outcome unknown", async () => {
    t = await createTestStore("sqlite");
    expect(await t.store.beginOutboxRun(1_000, 60_000)).toBe(0);
    await pendingRow(t.store, "s1");
    expect(await t.store.leaseDueOutbox("w-dead", 1_000, 60_000, 10)).toHaveLength(1);
    // The process dies: no endOutboxRun; its TEMP leases go with its connection.
    const next = await t.open();
    expect(await next.beginOutboxRun(2_000, 60_000)).toBe(1);
    expect(await next.leaseDueOutbox("w-new", 2_000, 60_000, 10)).toEqual([]);
    expect(await next.leaseDueOutbox("w-new", 61_999, 60_000, 10)).toEqual([]);
    const retaken = await next.leaseDueOutbox("w-new", 62_001, 60_000, 10);
    expect(retaken.map((row) => [row.sessionId, row.outcomeUnknown])).toEqual([["s1", true]]);
  });

  it("after a clean stop nothing is held back, and a second start in the same process checks nothing again", async () => {
    t = await createTestStore("sqlite");
    expect(await t.store.beginOutboxRun(1_000, 60_000)).toBe(0);
    await pendingRow(t.store, "s1");
    await t.store.endOutboxRun();
    const next = await t.open();
    expect(await next.beginOutboxRun(2_000, 60_000)).toBe(0);
    const taken = await next.leaseDueOutbox("w-new", 2_000, 60_000, 10);
    expect(taken.map((row) => [row.sessionId, row.outcomeUnknown])).toEqual([["s1", false]]);
    expect(await next.beginOutboxRun(3_000, 60_000)).toBe(0);
  });
});
