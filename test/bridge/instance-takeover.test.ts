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

  /** How many times the purchase's audit log says `reason`. */
  async function audited(reference: string, reason: string): Promise<number> {
    const { sessionId } = await h.purchaseFor(reference);
    return (await h.store.listAudit(sessionId)).filter((entry) => entry.reason === reason).length;
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

  // The unlock stays honourable (clock skew as by default, 60 s) long after the machine should have answered it.
  const honourable = { timeouts: { clockSkewMs: 60_000 } };

  it("the instance that sent the unlock dies and the machine does not answer: the other one flags the machine and pings it, as the dead one's timer would have", async () => {
    h = await Harness.start("postgres", honourable);
    const otherFleet = await startSecond();
    const { reference } = await h.reservedPurchase();
    await h.app.stop();
    await h.clock.advance(h.config.timeouts.unlockAckMs + 2 * h.config.timeouts.sweepIntervalMs);
    expect(await h.store.machineUnavailableReason("M1")).toBe("unlock-not-acknowledged");
    expect(await audited(reference, "unlock-not-acknowledged")).toBe(1);
    // The availability re-check pings flagged machines: a positive pong clears the flag and resends the unlock.
    await h.clock.advance(5_000);
    expect(otherFleet.commands("ping", "M1").length).toBeGreaterThan(0);
    expect((await h.purchaseFor(reference)).state).toBe("reserved");
  });

  it("both instances alive, the machine does not answer the unlock: declared once, by the owner's timer, not again by a sweep", async () => {
    h = await Harness.start("postgres", honourable);
    await startSecond();
    const { reference } = await h.reservedPurchase();
    await h.clock.advance(h.config.timeouts.unlockAckMs + 3 * h.config.timeouts.sweepIntervalMs);
    expect(await audited(reference, "unlock-not-acknowledged")).toBe(1);
  });

  it("both instances alive, the session never ends: session-max declared and the machine asked to end once, not again by the other's sweep", async () => {
    h = await Harness.start("postgres");
    const otherFleet = await startSecond();
    const { reference, sessionId } = await h.reservedPurchase();
    await h.fleet.emit("M1", "unlocked", { sessionId, commandId: "x", budgetMinor: 2000, currency: "EUR" });
    await h.clock.advance(h.config.timeouts.sessionMaxMs + 3 * h.config.timeouts.sweepIntervalMs);
    expect(await audited(reference, "session-max-exceeded")).toBe(1);
    const cancels = [...h.fleet.commands("cancel", "M1"), ...otherFleet.commands("cancel", "M1")];
    expect(cancels).toHaveLength(1);
  });
});
