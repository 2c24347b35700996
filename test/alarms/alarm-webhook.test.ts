import { createHmac } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import type { Alarm } from "../../backend-bridge/alarms/alarm-rules.ts";
import { AlarmWebhook, type WebhookSettings } from "../../backend-bridge/alarms/alarm-webhook.ts";
import { systemClock } from "../../platform/clock.ts";
import { capturedLogs } from "../helpers/captured-logs.ts";
import { eventually } from "../helpers/eventually.ts";
import { closeReceivers, type Received, receiver } from "./webhook-receiver.ts";

const alarm: Alarm = {
  id: "machine-offline:M1",
  kind: "machine-offline",
  machineId: "M1",
  since: Date.UTC(2026, 0, 15, 10, 0, 0),
  message: "M1 offline since 2026-01-15T10:00:00.000Z",
};
const secret = "a shared secret of the receiver";

const hooks: AlarmWebhook[] = [];

afterEach(async () => {
  for (const hook of hooks.splice(0)) await hook.stop();
  await closeReceivers();
});

function webhook(settings: Partial<WebhookSettings> & { url: string }) {
  const { logger, lines } = capturedLogs();
  const hook = new AlarmWebhook({
    settings: { timeoutMs: 2_000, attempts: 3, retryBaseMs: 20, ...settings },
    clock: systemClock,
    logger,
  });
  hooks.push(hook);
  return { hook, lines };
}

describe("alarm webhook", () => {
  it("posts the alarm as JSON with an HMAC-SHA256 signature of the body", async () => {
    const { url, received } = await receiver([204]);
    const { hook } = webhook({ url, secret });
    hook.notify({ event: "raised", alarm, at: alarm.since + 600_000 });
    await hook.idle();
    expect(received).toHaveLength(1);
    const [request] = received as [Received];
    expect(request.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(request.body)).toEqual({
      event: "raised",
      at: alarm.since + 600_000,
      alarm: {
        id: "machine-offline:M1",
        kind: "machine-offline",
        machineId: "M1",
        since: alarm.since,
        message: alarm.message,
      },
    });
    const expected = createHmac("sha256", secret).update(request.body).digest("hex");
    expect(request.headers["x-seqr-vend-signature"]).toBe(`sha256=${expected}`);
    expect(request.headers["x-seqr-vend-event"]).toBe("raised");
    expect(request.headers["x-seqr-vend-delivery"]).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("sends no signature header without a secret", async () => {
    const { url, received } = await receiver([204]);
    const { hook } = webhook({ url });
    hook.notify({ event: "cleared", alarm, at: alarm.since });
    await hook.idle();
    expect(received[0]?.headers["x-seqr-vend-signature"]).toBeUndefined();
  });

  it("retries a 503 and a 429 with the same delivery id, in order, and gives a 400 up at once", async () => {
    const { url, received } = await receiver([503, 429, 204, 400]);
    const { hook, lines } = webhook({ url, attempts: 5 });
    hook.notify({ event: "raised", alarm, at: 1 });
    hook.notify({ event: "cleared", alarm, at: 2 });
    await hook.idle();
    expect(received.map((request) => JSON.parse(request.body).event)).toEqual([
      "raised",
      "raised",
      "raised",
      "cleared",
    ]);
    const deliveries = new Set(received.slice(0, 3).map((request) => request.headers["x-seqr-vend-delivery"]));
    expect(deliveries.size).toBe(1);
    expect(received[3]?.headers["x-seqr-vend-delivery"]).not.toBe(received[0]?.headers["x-seqr-vend-delivery"]);
    expect(lines.some((line) => line.msg === "alarm webhook refused the notification; dropped")).toBe(true);
  });

  it("times a silent receiver out and tries again", async () => {
    const { url, received } = await receiver(["hang", 204]);
    const { hook } = webhook({ url, timeoutMs: 300 });
    hook.notify({ event: "raised", alarm, at: 1 });
    await hook.idle();
    expect(received).toHaveLength(2);
    expect(hook.delivered).toBe(1);
  });

  it("never blocks the caller: notify returns at once while the receiver hangs, and a dead receiver is given up", async () => {
    const { url } = await receiver(["hang", "hang", "hang"]);
    const { hook } = webhook({ url, timeoutMs: 200, attempts: 3 });
    const started = performance.now();
    for (let index = 0; index < 50; index++) hook.notify({ event: "raised", alarm, at: index });
    expect(performance.now() - started).toBeLessThan(200);
    await hook.stop();
    const dead = webhook({ url: "http://127.0.0.1:9/nothing-listens", attempts: 2 });
    dead.hook.notify({ event: "raised", alarm, at: 1 });
    await eventually(() =>
      expect(dead.lines.some((line) => line.msg === "alarm webhook unreachable; notification dropped")).toBe(true),
    );
  });
});
