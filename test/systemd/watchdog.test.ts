import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { silentLogger } from "../../platform/logger.ts";
import type { SdNotifier } from "../../platform/sd-notify.ts";
import { createWatchdog, hardwareLinkCheck, lastSignOfLifeCheck } from "../../platform/watchdog.ts";

function recordingNotifier(watchdogMs: number | undefined) {
  const sent: Array<Record<string, string | number>> = [];
  const notify = (fields: Record<string, string | number>) => {
    sent.push(fields);
    return true;
  };
  const notifier: SdNotifier = {
    active: true,
    watchdogMs,
    notify,
    ready: (status) => notify({ READY: 1, ...(status ? { STATUS: status } : {}) }),
    status: (text) => notify({ STATUS: text }),
    watchdogPing: () => notify({ WATCHDOG: 1 }),
    stopping: () => notify({ STOPPING: 1 }),
    close: () => {},
  };
  return { notifier, pings: () => sent.filter((fields) => "WATCHDOG" in fields).length, sent };
}

describe("watchdog", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("pings at half of WATCHDOG_USEC while healthy", () => {
    const { notifier, pings } = recordingNotifier(20_000);
    const watchdog = createWatchdog({ notifier, logger: silentLogger(), now: () => Date.now() });
    watchdog.start();
    expect(pings()).toBe(1); // right away
    vi.advanceTimersByTime(60_000);
    expect(pings()).toBe(7); // 1 + 60 s / 10 s
    watchdog.stop();
    vi.advanceTimersByTime(60_000);
    expect(pings()).toBe(7);
  });

  it("does nothing when systemd asked for no watchdog", () => {
    const { notifier, pings } = recordingNotifier(undefined);
    const watchdog = createWatchdog({ notifier, logger: silentLogger(), now: () => Date.now() });
    watchdog.start();
    vi.advanceTimersByTime(60_000);
    expect(watchdog.running).toBe(false);
    expect(pings()).toBe(0);
  });

  it("stops pinging when the hardware link goes stale, and resumes when it comes back", () => {
    const { notifier, pings, sent } = recordingNotifier(2_000);
    const watchdog = createWatchdog({ notifier, logger: silentLogger(), now: () => Date.now() });
    let lastSeen = Date.now();
    const heartbeat = setInterval(() => {
      lastSeen = Date.now();
    }, 100);
    watchdog.registerHealthCheck(
      "hardware link alive",
      lastSignOfLifeCheck(() => lastSeen, 1_500),
    );
    watchdog.start();
    vi.advanceTimersByTime(5_000);
    const beforeHang = pings();
    expect(beforeHang).toBe(6);

    clearInterval(heartbeat); // the adapter stops answering
    vi.advanceTimersByTime(10_000);
    // At most one more ping while the last sign of life was still within 1.5 s, then none.
    expect(pings()).toBeLessThanOrEqual(beforeHang + 2);
    const afterHang = pings();
    vi.advanceTimersByTime(10_000);
    expect(pings()).toBe(afterHang);
    expect(sent.some((fields) => String(fields.STATUS).startsWith("unhealthy: hardware link alive"))).toBe(true);
    expect(watchdog.evaluate().healthy).toBe(false);

    lastSeen = Date.now(); // the link is back
    vi.advanceTimersByTime(1_000);
    expect(pings()).toBe(afterHang + 1);
    watchdog.stop();
  });

  it("treats a throwing check as failing", () => {
    const { notifier } = recordingNotifier(2_000);
    const watchdog = createWatchdog({ notifier, logger: silentLogger(), now: () => Date.now() });
    watchdog.registerHealthCheck("broken", () => {
      throw new Error("boom");
    });
    const result = watchdog.tick();
    expect(result.pinged).toBe(false);
    expect(result.problems).toEqual(["broken: check threw: boom"]);
  });

  it("withholds the ping after a huge event-loop lag", () => {
    const { notifier } = recordingNotifier(20_000);
    let monotonic = 0;
    const watchdog = createWatchdog({ notifier, logger: silentLogger(), now: () => monotonic, lagSampleMs: 500 });
    monotonic += 500;
    expect(watchdog.tick().pinged).toBe(true);
    // The loop was blocked for 8 s (a synchronous call that never yielded): more than a quarter of WatchdogSec.
    monotonic += 8_500;
    const lagged = watchdog.tick();
    expect(lagged.pinged).toBe(false);
    expect(lagged.problems[0]).toMatch(/^event loop lag 8000 ms > 5000 ms$/);
    monotonic += 500;
    expect(watchdog.tick().pinged).toBe(true);
  });

  it("lets a check be removed while the link is deliberately reopened", () => {
    const { notifier } = recordingNotifier(2_000);
    const watchdog = createWatchdog({ notifier, logger: silentLogger(), now: () => Date.now() });
    const remove = watchdog.registerHealthCheck("link", () => ({ ok: false, detail: "reopening" }));
    expect(watchdog.tick().pinged).toBe(false);
    remove();
    expect(watchdog.tick().pinged).toBe(true);
  });

  it("counts the start-up as the first sign of life", () => {
    const check = lastSignOfLifeCheck(
      () => undefined,
      1_000,
      () => Date.now(),
    );
    expect(check().ok).toBe(true);
    vi.advanceTimersByTime(1_001);
    expect(check()).toEqual({ ok: false, detail: "no sign of life for 1001 ms" });
  });
});

describe("hardware link check", () => {
  it("fails on an up-but-silent link, tolerates a short outage, fails a long one", () => {
    let now = 1_000_000;
    let up = true;
    let last: number | undefined;
    const check = hardwareLinkCheck({
      isUp: () => up,
      lastSignOfLifeAt: () => last,
      maxSilenceMs: 30_000,
      maxDownMs: 600_000,
      now: () => now,
    });
    expect(check().ok).toBe(true); // up, no sign of life tracked yet
    last = now;
    now += 30_000;
    expect(check().ok).toBe(true);
    now += 1;
    expect(check()).toEqual({ ok: false, detail: "link up but silent for 30001 ms" });
    up = false; // the driver noticed and reconnects with backoff
    now += 599_000;
    expect(check().ok).toBe(true);
    now += 2_000;
    expect(check().ok).toBe(false);
    up = true;
    last = now;
    expect(check().ok).toBe(true);
  });
});
