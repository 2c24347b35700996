import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AvailabilityTracker, decideAvailability } from "../../backend-bridge/fleet/availability-tracker.ts";
import type { Availability } from "../../protocol/messages.ts";

const av = (state: Availability["state"], bootSeq: number, ts: number, bootId = `boot-${bootSeq}`): Availability => ({
  state,
  bootId,
  bootSeq,
  ts,
});

describe("availability ordering", () => {
  it("accepts the first message and any later boot", () => {
    expect(decideAvailability(undefined, av("offline", 3, 1))).toBe("accept");
    const record = { current: av("online", 3, 100), lastOnlineTs: 100 };
    expect(decideAvailability(record, av("offline", 4, 50))).toBe("accept");
    expect(decideAvailability(record, av("online", 4, 50))).toBe("accept");
  });

  it("ignores an offline (or online) of an older boot, whatever its ts", () => {
    const record = { current: av("online", 3, 100), lastOnlineTs: 100 };
    expect(decideAvailability(record, av("offline", 2, 10_000))).toBe("stale");
    expect(decideAvailability(record, av("online", 2, 10_000))).toBe("stale");
  });

  it("within a boot: the LWT wins although its ts is older, a redelivered online does not", () => {
    const tracker = new AvailabilityTracker();
    expect(tracker.apply("M", av("online", 5, 1_000)).changed).toBe(true);
    expect(tracker.apply("M", av("online", 5, 1_000))).toEqual({ decision: "same", changed: false });
    expect(tracker.apply("M", av("offline", 5, 900)).changed).toBe(true);
    expect(tracker.isOnline("M")).toBe(false);
    expect(tracker.apply("M", av("online", 5, 1_000))).toEqual({ decision: "stale", changed: false });
    expect(tracker.apply("M", av("online", 5, 1_500)).changed).toBe(true);
    expect(tracker.isOnline("M")).toBe(true);
  });

  it("a reconnect of the same boot (a newer online) is a change, so the bridge resends what is pending", () => {
    // Issue 15 defect 2: after a broker restart the agent says `online` again with the same boot; the bridge must hear
    // of it (its unlock may have been lost with the broker), while a redelivered copy of the same online is not news.
    const tracker = new AvailabilityTracker();
    expect(tracker.apply("M", av("online", 5, 1_000)).changed).toBe(true);
    expect(tracker.apply("M", av("online", 5, 2_000))).toEqual({ decision: "accept", changed: true });
    expect(tracker.apply("M", av("online", 5, 2_000))).toEqual({ decision: "same", changed: false });
    expect(tracker.apply("M", av("online", 5, 1_500))).toEqual({ decision: "stale", changed: false });
    expect(tracker.get("M")?.ts).toBe(2_000);
    expect(tracker.isOnline("M")).toBe(true);
  });

  it("same bootSeq with another bootId (journal lost): the later ts wins", () => {
    const record = { current: av("online", 1, 1_000, "x"), lastOnlineTs: 1_000 };
    expect(decideAvailability(record, av("offline", 1, 900, "y"))).toBe("stale");
    expect(decideAvailability(record, av("online", 1, 2_000, "y"))).toBe("accept");
  });

  it("counts online machines and forgets deleted ones", () => {
    const tracker = new AvailabilityTracker();
    tracker.apply("A", av("online", 1, 1));
    tracker.apply("B", av("online", 1, 1));
    tracker.apply("C", av("offline", 1, 1));
    expect(tracker.onlineCount()).toBe(2);
    tracker.forget("A");
    expect(tracker.onlineCount()).toBe(1);
    expect(tracker.get("A")).toBeUndefined();
  });

  it("property: whatever the order of delivery, a message of an older boot never changes the outcome", () => {
    // The newest boot's messages in their own order, the older boots' ones anywhere in between.
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom<"online" | "offline">("online", "offline"), fc.integer({ min: 0, max: 4 })), {
          maxLength: 12,
        }),
        fc.constantFrom<"online" | "offline">("online", "offline"),
        (older, last) => {
          const tracker = new AvailabilityTracker();
          tracker.apply("M", av("online", 5, 10));
          tracker.apply("M", av(last, 5, last === "online" ? 10 : 5));
          for (const [state, bootSeq] of older) tracker.apply("M", av(state, bootSeq, 1_000_000));
          expect(tracker.isOnline("M")).toBe(last === "online");
        },
      ),
    );
  });
});
