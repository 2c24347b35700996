import { afterEach, describe, expect, it } from "vitest";
import { hasService } from "../helpers/system-tools.ts";
import { FakeFleet } from "./helpers/fake-fleet.ts";
import { Harness, vendedEvent } from "./helpers/harness.ts";

/**
 * Issue 15, defect 8: the timers of an open purchase lived only in the instance that created it. A periodic sweep
 * (timeouts.sweepIntervalMs) lets any live instance arm the deadlines of every open purchase, so one whose creating
 * instance died still times out, commits or cancels. PostgreSQL only, as multi-instance.test.ts.
 */

describe.runIf(await hasService("PostgreSQL", "127.0.0.1", 5432))("another instance takes over open purchases", () => {
  let h: Harness;
  afterEach(async () => {
    await h?.close();
  });

  /** A second instance, started before the purchase exists: its own start() does not see it. Returns its fleet. */
  async function startSecond(): Promise<FakeFleet> {
    const fleet = new FakeFleet();
    fleet.setOnline("M1");
    // Counted, so that the manual clock waits for this instance's store calls too.
    await h.startOtherInstance(fleet, { countStoreCalls: true });
    return fleet;
  }

  it("the creating instance dies while the customer has not confirmed: the other one cancels at the payment deadline", async () => {
    h = await Harness.start("postgres");
    await startSecond();
    const reference = await h.purchase();
    await h.app.stop();
    await h.clock.advance(h.config.timeouts.paymentConfirmMs + 2 * h.config.timeouts.sweepIntervalMs);
    await h.waitForState(reference, "cancelled");
    await h.clock.advance(2_000);
    expect(h.seqr.only().status).toBe("CANCELED");
    expect(await h.store.holderOf("M1")).toBeUndefined();
  });

  it("the creating instance dies mid-vending and the session never ends: the other one commits at the deadline", async () => {
    h = await Harness.start("postgres");
    await startSecond();
    const { reference, sessionId } = await h.reservedPurchase();
    await h.fleet.emit("M1", "unlocked", { sessionId, commandId: "x", budgetMinor: 2000, currency: "EUR" });
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v1", 150));
    await h.app.stop();
    // 600 s reservation, 60 s margin: forced at 540 s after the invoice.
    await h.clock.advance(540_000 + 2 * h.config.timeouts.sweepIntervalMs);
    await h.clock.advance(2_000);
    const done = await h.waitForState(reference, "committed");
    expect(h.seqr.only().committed?.minor).toBe(150);
    expect(done.reconciliation).toContain("commit-deadline");
  });

  it("the creating instance dies and SEQR's notification to it is lost: the other one fetches the status within 10 s of the confirmation (SEQR reverses at 20 s)", async () => {
    h = await Harness.start("postgres");
    const otherFleet = await startSecond();
    const reference = await h.purchase();
    await h.app.stop();
    // The customer confirms; the notification went to the dead instance. Only a poll of the other one can save it.
    h.seqr.confirm(reference);
    await h.clock.advance(10_000);
    await h.waitForState(reference, "reserved", 2_000);
    expect(otherFleet.commands("unlock", "M1")).toHaveLength(1);
  });
});
