import { expect, it } from "vitest";
import { describeEachStore, type Harness, sessionEndedEvent, vendedEvent } from "./helpers/harness.ts";

/**
 * What a purchase costs in durable commits (each one fsync on SQLite, one WAL flush on PostgreSQL), counted by the
 * store's driver: one per money-moving transition (issue "Performance: a purchase at the cost of its durable
 * writes"): the claim, invoiced, reserved, each vended, the session's end with its outbox row, and the close. Audit
 * rows, deduplication, outbox leases and acknowledgements ride along or cost no flush.
 */

async function purchaseWithVends(h: Harness, prices: number[], settleBetween: boolean) {
  const reference = await h.purchase("M1", 20);
  h.seqr.confirm(reference);
  await h.notify(reference);
  const { sessionId } = await h.waitForState(reference, "reserved");
  const unlock = h.fleet.commands("unlock", "M1").at(-1);
  await h.fleet.emit("M1", "unlocked", { sessionId, commandId: unlock!.commandId, budgetMinor: 2000, currency: "EUR" });
  for (const [index, price] of prices.entries()) {
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, `v${index + 1}`, price));
    // The per-vend updateInvoice runs before the next event, or not (the session ends at once).
    if (settleBetween) await h.drainOutbox();
  }
  const total = prices.reduce((sum, price) => sum + price, 0);
  await h.fleet.emit("M1", "session-ended", sessionEndedEvent(sessionId, prices.length, total));
  await h.drainOutbox();
  return h.waitForState(reference, "committed");
}

describeEachStore("durable commits per purchase", (start) => {
  for (const settleBetween of [true, false]) {
    const when = settleBetween ? "each vend's invoice update sent before the next event" : "the session ending at once";
    it(`one vend: 6 (claim, invoiced, reserved, vended, session ended, committed), ${when}`, async () => {
      const h = await start();
      await h.quiesce();
      const before = { ...h.store.stats };
      const purchase = await purchaseWithVends(h, [150], settleBetween);
      expect(purchase.committedMinor).toBe(150);
      expect(h.seqr.only().updates.at(-1)?.total.minor).toBe(150);
      expect(h.store.stats.durableCommits - before.durableCommits).toBe(6);
    });
  }

  it("three vends: one more per vend (8)", async () => {
    const h = await start();
    await h.quiesce();
    const before = { ...h.store.stats };
    const purchase = await purchaseWithVends(h, [150, 200, 150], true);
    expect(purchase.committedMinor).toBe(500);
    expect(h.store.stats.durableCommits - before.durableCommits).toBe(8);
  });
});

describeEachStore("events that move no money", (start) => {
  it("`unlocked` is stored with a deferred commit and acknowledged once durable; `vended` is durable before it resolves", async () => {
    const h = await start();
    const { sessionId } = await h.reservedPurchase();
    const before = { ...h.store.stats };
    const unlocked = await h.fleet.handled("M1", "unlocked", {
      sessionId,
      commandId: "x",
      budgetMinor: 2000,
      currency: "EUR",
    });
    expect(unlocked).toEqual({ durable: expect.any(Promise) });
    expect(h.store.stats.deferredCommits - before.deferredCommits).toBe(1);
    expect(h.store.stats.durableCommits - before.durableCommits).toBe(0);
    await (unlocked as { durable: Promise<void> }).durable;
    const vended = await h.fleet.handled("M1", "vended", vendedEvent(sessionId, "v1"));
    expect(vended).toBeUndefined();
    expect(h.store.stats.durableCommits - before.durableCommits).toBe(1);
  });
});
