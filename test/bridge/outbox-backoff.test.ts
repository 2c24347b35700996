import { describe, expect, it } from "vitest";
import { backoffDelayMs } from "../../backend-bridge/outbox/backoff.ts";
import { describeEachStore } from "./helpers/harness.ts";

/**
 * The outbox retries a failing SEQR call with exponential backoff, not at a fixed pace: with the harness's backoff
 * (base 1 s, cap 30 s, jitter 50-100 % of the step), the wait after the n-th failed attempt lies in
 * [step/2, step] for step = min(30 s, 1 s * 2^(n-1)), and each failed attempt is counted once. Time moves only by
 * the manual clock, to exactly the moment the row is due.
 */

describeEachStore("outbox backoff", (start) => {
  it("a commit that keeps failing is retried after growing waits, one counted attempt each, then goes through", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    const failures = 6;
    h.seqr.fail("commitReservation", "transport", { times: failures });
    await h.vendAndEnd(sessionId, [150]);
    await h.drainOutbox();
    // From here on the test runs the due rows itself, so that nothing runs between two clock moves.
    await h.app.outbox.stop();
    const commitRow = async () => {
      const [row] = (await h.store.listOutbox(sessionId)).filter((item) => item.kind === "commitReservation");
      if (!row) throw new Error("no commitReservation row");
      return row;
    };

    const waits: number[] = [];
    const attempts: number[] = [];
    for (let failed = 1; failed <= failures; failed += 1) {
      const row = await commitRow();
      expect(row.status).toBe("pending");
      attempts.push(row.attempts);
      const wait = row.nextAttemptAt - h.clock.now();
      waits.push(wait);
      // Not due a moment before its time...
      await h.clock.advance(wait - 1);
      await h.app.outbox.runDue();
      expect((await commitRow()).attempts, `attempt ${failed + 1} ran early`).toBe(failed);
      // ...and due at it.
      await h.clock.advance(1);
      await h.app.outbox.runDue();
    }

    expect(attempts).toEqual([1, 2, 3, 4, 5, 6]);
    for (const [index, wait] of waits.entries()) {
      const step = Math.min(30_000, 1_000 * 2 ** index);
      expect(wait, `wait after failed attempt ${index + 1} (waits ${waits.join(", ")})`).toBeGreaterThanOrEqual(
        step / 2,
      );
      expect(wait, `wait after failed attempt ${index + 1} (waits ${waits.join(", ")})`).toBeLessThanOrEqual(step);
    }
    // Not pairwise monotonic: consecutive jitter ranges touch ([4, 8] s then [8, 16] s) and overlap once the cap
    // is reached ([8, 16] s then [15, 30] s), so a high draw then a low one shrinks a wait (seen: 15287 then 15209
    // ms). The per-attempt ranges above already prove the growth.
    expect(waits.at(-1)).toBeGreaterThan(4 * (waits[0] ?? 0));

    const purchase = await h.waitForState(reference, "committed");
    expect(purchase.reconciliation).toBeNull();
    expect(h.seqr.count("commitReservation")).toBe(failures + 1);
    expect(h.seqr.only().commitCount).toBe(1);
  });
});

describe("backoffDelayMs", () => {
  const options = { baseMs: 1_000, maxMs: 30_000 };

  it("doubles the step per attempt up to the cap, and draws the wait between half the step and the step", () => {
    expect([0, 1, 2, 3, 4, 5, 6].map((attempt) => backoffDelayMs(attempt, options, () => 1))).toEqual([
      1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000,
    ]);
    expect([0, 1, 4, 5].map((attempt) => backoffDelayMs(attempt, options, () => 0))).toEqual([
      500, 1_000, 8_000, 15_000,
    ]);
    expect(backoffDelayMs(2, options, () => 0.5)).toBe(3_000);
    expect(backoffDelayMs(0, options, () => 0.4999)).toBe(750);
  });

  it("stays at the cap for any later attempt, without overflowing", () => {
    for (const attempt of [30, 31, 1_000, 1e9]) expect(backoffDelayMs(attempt, options, () => 1)).toBe(30_000);
  });

  it("draws from Math.random by default, within the range", () => {
    for (let round = 0; round < 50; round += 1) {
      const wait = backoffDelayMs(3, options);
      expect(wait).toBeGreaterThanOrEqual(4_000);
      expect(wait).toBeLessThanOrEqual(8_000);
    }
  });
});
