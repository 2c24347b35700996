import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { AckBatcher } from "../../backend-bridge/fleet/ack-batcher.ts";
import { systemClock } from "../../platform/clock.ts";

describe("AckBatcher", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("sends one ack per machine after the delay, with every id once", () => {
    const sent: [string, string[]][] = [];
    const batcher = new AckBatcher({ clock: systemClock, delayMs: 20, flush: (id, ids) => sent.push([id, ids]) });
    batcher.add("M1", "e1");
    batcher.add("M1", "e2");
    batcher.add("M1", "e1");
    batcher.add("M2", "e9");
    vi.advanceTimersByTime(19);
    expect(sent).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(sent).toEqual([
      ["M1", ["e1", "e2"]],
      ["M2", ["e9"]],
    ]);
  });

  it("flushes at the batch limit at once, and clear drops what is pending", () => {
    const sent: string[][] = [];
    const batcher = new AckBatcher({
      clock: systemClock,
      delayMs: 1_000,
      maxBatch: 3,
      flush: (_id, ids) => sent.push(ids),
    });
    for (const id of ["a", "b", "c", "d"]) batcher.add("M1", id);
    expect(sent).toEqual([["a", "b", "c"]]);
    batcher.clear();
    vi.advanceTimersByTime(5_000);
    expect(sent).toEqual([["a", "b", "c"]]);
  });

  it("never exceeds the contract's 100 ids per ack", () => {
    const sizes: number[] = [];
    const batcher = new AckBatcher({
      clock: systemClock,
      delayMs: 10,
      maxBatch: 500,
      flush: (_id, ids) => sizes.push(ids.length),
    });
    for (let i = 0; i < 250; i++) batcher.add("M1", `e${i}`);
    batcher.flushAll();
    expect(sizes).toEqual([100, 100, 50]);
  });
});
