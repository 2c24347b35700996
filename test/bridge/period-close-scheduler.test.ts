import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { PeriodCloseScheduler } from "../../backend-bridge/operator/period-close-scheduler.ts";
import { formatPeriodReport } from "../../backend-bridge/seqr/period-report.ts";
import { systemClock } from "../../platform/clock.ts";
import { silentLogger } from "../../platform/logger.ts";
import { createTestStore, storeKinds, type TestStore } from "./helpers/test-stores.ts";

/** The period close in the running bridge: once per interval, counted from the last close the store records. */
const intervalMs = 600;

describe.each(storeKinds)("the period close schedule on %s", (kind) => {
  let t: TestStore;
  beforeEach(async () => {
    t = await createTestStore(kind);
  });
  afterEach(async () => {
    await t.cleanup();
  });

  function scheduler(marks: number[]) {
    const seqr = {
      markTransactionPeriod: async () => {
        marks.push(Date.now());
        return { transactionPeriodId: String(2026120300000000000000000n + BigInt(marks.length)) };
      },
      executeReport: async () => ({ report: { content: formatPeriodReport({ payments: [], refunds: [] }) } }),
    };
    const settings = { reportId: "R", reportRetryMs: 10, reportAttempts: 1, intervalMs, settleLagMs: 0 };
    return new PeriodCloseScheduler({ store: t.store, seqr, clock: systemClock, logger: silentLogger(), settings });
  }

  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it("closes one interval after it starts; a restart closes one interval after the last close, not at once", async () => {
    const marks: number[] = [];
    const startedAt = Date.now();
    const first = scheduler(marks);
    await first.start();
    await sleep(intervalMs / 2);
    expect(marks).toHaveLength(0);
    await sleep(intervalMs);
    await first.stop();
    expect(marks).toHaveLength(1);
    expect(marks[0]! - startedAt).toBeGreaterThanOrEqual(intervalMs - 5);
    expect((await t.store.lastPeriodClose())?.status).toBe("closed");

    // Restarted half an interval after the close: the next one is due half an interval later, not now.
    const second = scheduler(marks);
    await second.start();
    for (let waited = 0; marks.length < 2 && waited < intervalMs * 3; waited += 10) await sleep(10);
    await second.stop();
    expect(marks).toHaveLength(2);
    expect(marks[1]! - marks[0]!).toBeGreaterThanOrEqual(intervalMs - 5);
  });
});
