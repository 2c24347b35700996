import { afterEach, describe, expect, it } from "vitest";
import { describeScreen, type ScreenContext } from "../../agent/display/screens.ts";
import { envelope, openSessionHarness, testCatalog, until } from "../agent/helpers/session-harness.ts";

/**
 * Each way a session ends has its own honest screen (issue 21 item 7): a decline on the phone is "Payment cancelled",
 * Done with nothing chosen is "Nothing chosen", only a vend that really failed is "Sorry, the vend failed", and a
 * session where some products came out and some did not is "Partly delivered". Driven through the real VendSession
 * (journal on disk, scripted mechanism), as the agent drives its screen.
 */

const signature = "0".repeat(64);
const context: ScreenContext = {
  machine: { id: "M1", merchantId: "acme" },
  catalog: testCatalog,
  idleText: "Scan with the SEQR app to pay",
  now: Date.now(),
};
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function machine(mode: "single-vend" | "multi-vend" = "multi-vend") {
  const harness = await openSessionHarness({
    mode,
    timings: {
      selectionTimeoutMs: 600_000,
      paymentPendingTimeoutMs: 600_000,
      // Long enough that the end screen is still up whenever the test looks, however slow the machine.
      endScreenMs: 600_000,
    },
  });
  cleanups.push(() => harness.close());
  const { session, mechanism, named } = harness;
  const unlock = async (sessionId: string, budgetMinor: number) => {
    const env = envelope();
    expect(await session.unlock({ ...env, sessionId, budgetMinor, currency: "EUR", signature }, env)).toBeUndefined();
  };
  // Built as variables: commands carry a signature on branches where only unlock has one in its type.
  const pending = async (sessionId: string, amountMinor: number) => {
    const env = envelope();
    const command = { ...env, sessionId, amountMinor, currency: "EUR", signature };
    expect(await session.paymentPending(command, env)).toBeUndefined();
  };
  const cancel = async (sessionId: string, reason: "customer-cancelled" | "payment-timeout") => {
    const env = envelope();
    const command = { ...env, sessionId, reason, signature };
    expect(await session.cancel(command, env)).toBeUndefined();
  };
  const screen = () => describeScreen(session.displayState(), { ...context, now: Date.now() });
  return { session, mechanism, named, unlock, pending, cancel, screen };
}

describe("end-of-session screens", () => {
  it("a decline on the phone (the bridge's customer-cancelled) shows Payment cancelled, not a vend failure", async () => {
    const m = await machine();
    await m.pending("p-1", 500);
    expect(m.screen().title).toBe("Confirm in your SEQR app");
    await m.cancel("p-1", "customer-cancelled");
    await until(() => m.named("session-ended").length === 1);
    const shown = m.screen();
    expect(shown.title).toBe("Payment cancelled");
    expect(shown.lines).toEqual(["You have not been charged"]);
    expect(shown.tone).toBe("neutral");
    expect(m.session.view().screen).not.toBe("vend-failed");
  });

  it("a payment never confirmed says so (it used to drop back to the QR without a word)", async () => {
    const m = await machine();
    await m.pending("p-2", 500);
    await m.cancel("p-2", "payment-timeout");
    await until(() => m.named("session-ended").length === 1);
    expect(m.screen().title).toBe("Payment not confirmed in time");
    expect(m.screen().lines).toEqual(["You have not been charged"]);
  });

  it("Done with nothing chosen shows Nothing chosen (not charged)", async () => {
    const m = await machine();
    await m.unlock("s-empty", 500);
    await m.session.customerDone();
    await until(() => m.named("session-ended").length === 1);
    const shown = m.screen();
    expect(shown.title).toBe("Nothing chosen");
    expect(shown.lines).toEqual(["You have not been charged"]);
    expect(shown.tone).toBe("neutral");
    expect(m.session.view().screen).toBe("thank-you");
  });

  it("a vend that failed, then Done, shows the vend failure and that nothing was charged", async () => {
    const m = await machine();
    m.mechanism.outcomes.push({ outcome: "not-delivered", evidence: "vend-failure" });
    await m.unlock("s-failed", 500);
    m.mechanism.select({ selection: "A1" });
    await until(() => m.named("vend-failed").length === 1);
    await m.session.customerDone();
    await until(() => m.named("session-ended").length === 1);
    const shown = m.screen();
    expect(shown.title).toBe("Sorry, the vend failed");
    expect(shown.lines).toContain("You have not been charged");
    expect(shown.tone).toBe("error");
    expect(m.session.view().screen).toBe("vend-failed");
  });

  it("one product out and one failed shows Partly delivered with what was paid", async () => {
    const m = await machine();
    m.mechanism.outcomes.push(
      { outcome: "delivered", evidence: "drop-sensor" },
      { outcome: "not-delivered", evidence: "vend-failure" },
    );
    await m.unlock("s-partly", 1000);
    m.mechanism.select({ selection: "A1" });
    await until(() => m.named("vended").length === 1);
    m.mechanism.select({ selection: "A2" });
    await until(() => m.named("vend-failed").length === 1);
    await m.session.customerDone();
    await until(() => m.named("session-ended").length === 1);
    const shown = m.screen();
    expect(shown.title).toBe("Partly delivered");
    expect(shown.lines).toEqual([
      "You paid 1.50 EUR for what was delivered",
      "1 product did not come out: not charged",
      "Please take your products",
    ]);
    expect(m.session.view().screen).toBe("thank-you");
  });

  it("everything delivered is still a plain Thank you", async () => {
    const m = await machine();
    await m.unlock("s-paid", 1000);
    m.mechanism.select({ selection: "A2" });
    await until(() => m.named("vended").length === 1);
    await m.session.customerDone();
    await until(() => m.named("session-ended").length === 1);
    expect(m.screen().title).toBe("Thank you!");
    expect(m.screen().lines).toEqual(["You paid 2.00 EUR", "Please take your product"]);
  });

  it("Cancel at the machine while it waits for the phone ends the session with nothing vended, and says so", async () => {
    const m = await machine();
    const before = Date.now();
    await m.pending("p-3", 500);
    const waiting = m.session.displayState();
    expect(waiting.screen).toBe("payment-pending");
    const deadline = waiting.screen === "payment-pending" ? (waiting.deadline ?? 0) : 0;
    expect(deadline).toBeGreaterThanOrEqual(before + 600_000);
    expect(m.screen().countdown?.secondsLeft).toBeGreaterThan(590);
    await m.session.customerCancel();
    await until(() => m.named("session-ended").length === 1);
    // The bridge cancels the invoice on this event (a session ended while it was invoiced).
    expect(m.named("session-ended")[0]?.payload).toMatchObject({
      sessionId: "p-3",
      reason: "cancelled",
      vendedCount: 0,
      vendedTotalMinor: 0,
    });
    expect(m.screen().title).toBe("Payment cancelled");
    // A late unlock for the cancelled payment is refused: the machine never opens a session the customer cancelled.
    const env = envelope();
    const late = { ...env, sessionId: "p-3", budgetMinor: 500, currency: "EUR", signature };
    expect(await m.session.unlock(late, env)).toMatchObject({ reason: "unknown-session" });
    // Nothing pending: a second Cancel changes nothing.
    await m.session.customerCancel();
    expect(m.named("session-ended")).toHaveLength(1);
  });
});
