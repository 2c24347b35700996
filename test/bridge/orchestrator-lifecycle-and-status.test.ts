import { expect, it } from "vitest";
import { capturedLogs } from "../helpers/captured-logs.ts";
import { describeEachStore, type Harness } from "./helpers/harness.ts";

/**
 * The orchestrator stopped, and the rhythm of its status checks (issue 16: the mutation run found both unchecked). A
 * stopped orchestrator leaves no timer behind and takes no new purchase or notification. A notification's status
 * check retries after 250 ms, doubling up to 2 s, for 15 s (SEQR's 20-second rule); one getPaymentStatus is given at
 * most 5 s even when SEQR calls may take longer.
 */

const request = { token: "M1", amount: 20, currency: "EUR", msisdn: null };

/** The times (ms after `since`) of the getPaymentStatus calls made since then. */
function statusCallTimes(h: Harness, since: number): number[] {
  return h.seqr.calls
    .filter((call) => call.operation === "getPaymentStatus" && call.at !== undefined && call.at >= since)
    .map((call) => (call.at as number) - since);
}

describeEachStore("orchestrator: stopped, and its status checks", (start) => {
  it("once stopped: no timer left, no purchase taken, no notification checked", async () => {
    const h = await start();
    const reference = await h.purchase("M2", 20, "SEK");
    const { notifySecret } = await h.purchaseFor(reference);
    await h.reservedPurchase();
    await h.app.stop();
    expect(h.clock.pending).toBe(0);
    const calls = h.seqr.calls.length;
    expect(await h.app.orchestrator.createPurchase(request)).toEqual({ errorCode: "SYSTEM_ERROR" });
    expect(await h.app.orchestrator.notified(notifySecret)).toBe("unknown");
    await h.clock.advance(60_000);
    expect(h.seqr.calls.length).toBe(calls);
    expect(h.clock.pending).toBe(0);
  });

  it("a notification's status check: 250 ms, doubling up to 2 s, until 15 s have passed", async () => {
    const h = await start();
    const reference = await h.purchase();
    // The poll due at 3 s waits for this check rather than calling SEQR itself.
    const since = h.clock.now();
    await h.notify(reference);
    await h.clock.advance(15_000);
    expect(statusCallTimes(h, since).filter((time) => time < 15_000)).toEqual([
      0, 250, 750, 1_750, 3_750, 5_750, 7_750, 9_750, 11_750, 13_750,
    ]);
  });

  it("one getPaymentStatus is given up after 5 s even when SEQR calls may take 8 s", async () => {
    const { logger, lines } = capturedLogs("info");
    const h = await start({ seqr: { requestTimeoutMs: 8_000 } }, { logger });
    const failed = () => lines.filter((line) => line.msg === "getPaymentStatus failed");
    const reference = await h.purchase();
    h.seqr.hang("getPaymentStatus");
    const notified = h.app.orchestrator.notified((await h.purchaseFor(reference)).notifySecret);
    await h.clock.advance(4_999);
    expect(failed()).toEqual([]);
    await h.clock.advance(1);
    expect(failed()).toEqual([
      expect.objectContaining({
        err: expect.objectContaining({ message: "getPaymentStatus: no answer within 5000 ms" }),
      }),
    ]);
    h.seqr.confirm(reference);
    await h.clock.advance(15_000);
    await notified;
    await h.waitForState(reference, "reserved");
  });
});
