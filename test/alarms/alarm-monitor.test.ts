import { createHmac } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { type Harness, harnessPerTest, vendedEvent } from "../bridge/helpers/harness.ts";
import { eventually } from "../helpers/eventually.ts";
import { closeReceivers, receiver } from "./webhook-receiver.ts";

const minute = 60_000;
const secret = "the receiver's shared secret";

/**
 * The alarm shell in a bridge (harness: SQLite, fake fleet, manual clock): presence changes and the timer evaluate
 * the decision, the console's set follows, and each alarm raised or cleared reaches a real local webhook receiver.
 */
describe("alarm monitor in the bridge", () => {
  const start = harnessPerTest("sqlite");
  afterEach(closeReceivers);

  async function bridgeWithWebhook(answers: (number | "hang")[] = []) {
    const hook = await receiver(answers);
    const h = await start({
      alarms: { offlineAfterMs: 10 * minute, evaluateIntervalMs: 30_000, webhook: { url: hook.url, secret } },
    });
    await h.app.alarms.evaluate();
    return { h, hook };
  }

  const ids = (h: Harness) => h.app.alarms.active().map((alarm) => alarm.id);

  it("raises 'machine offline' exactly N minutes after the machine left, posts it, and clears it on return", async () => {
    const { h, hook } = await bridgeWithWebhook();
    await h.clock.advance(minute);
    h.fleet.setOnline("M1", false);
    const wentAt = h.clock.now();
    // An evaluation 7 s later puts the periodic passes (every 30 s from the last one) off the threshold: the monitor
    // must wake for the threshold itself.
    await h.clock.advance(7_000);
    await h.app.alarms.evaluate();
    await h.clock.advance(10 * minute - 7_001);
    expect(ids(h)).toEqual([]);
    await h.clock.advance(1);
    expect(ids(h)).toEqual(["machine-offline:M1"]);
    expect(h.app.alarms.active()[0]?.since).toBe(wentAt);
    await h.app.alarms.webhook?.idle();
    expect(hook.received.map((request) => JSON.parse(request.body).event)).toEqual(["raised"]);
    const [request] = hook.received;
    expect(request?.headers["x-seqr-vend-signature"]).toBe(
      `sha256=${createHmac("sha256", secret)
        .update(request?.body ?? "")
        .digest("hex")}`,
    );
    expect(JSON.parse(request?.body ?? "{}")).toMatchObject({
      event: "raised",
      at: wentAt + 10 * minute,
      alarm: { id: "machine-offline:M1", kind: "machine-offline", machineId: "M1", since: wentAt },
    });

    await h.clock.advance(30 * minute);
    await h.app.alarms.webhook?.idle();
    expect(hook.received).toHaveLength(1); // not raised twice

    h.fleet.setOnline("M1", true);
    await h.app.alarms.evaluate();
    await h.app.alarms.webhook?.idle();
    expect(ids(h)).toEqual([]);
    expect(hook.received.map((each) => JSON.parse(each.body).event)).toEqual(["raised", "cleared"]);
  });

  it("after a bridge restart counts an offline machine from the restart and raises it once more then", async () => {
    const { h } = await bridgeWithWebhook();
    h.fleet.setOnline("M1", false);
    await h.clock.advance(20 * minute);
    await h.app.alarms.evaluate();
    expect(ids(h)).toEqual(["machine-offline:M1"]);
    await h.restart();
    await h.app.alarms.evaluate();
    const restartedAt = h.clock.now();
    expect(ids(h)).toEqual([]);
    expect(h.app.alarms.presence.get("M1")).toEqual({ online: false, since: restartedAt, sinceBridgeStart: true });
    await h.clock.advance(10 * minute);
    await h.app.alarms.evaluate();
    expect(ids(h)).toEqual(["machine-offline:M1"]);
  });

  it("raises a jammed slot from the machine's vend-failed (jammed) and clears it after a later vend of that slot", async () => {
    const { h, hook } = await bridgeWithWebhook();
    const first = await h.reservedPurchase();
    await h.fleet.emit("M1", "unlocked", {
      sessionId: first.sessionId,
      commandId: "x",
      budgetMinor: 2000,
      currency: "EUR",
    });
    await h.fleet.emit("M1", "vend-failed", {
      sessionId: first.sessionId,
      vendId: "v1",
      selection: "A2",
      priceMinor: 200,
      currency: "EUR",
      outcome: "jammed",
      evidence: "jam",
    });
    await h.app.alarms.evaluate();
    expect(ids(h)).toEqual(["slot-jammed:M1:A2"]);
    await h.fleet.emit("M1", "vended", vendedEvent(first.sessionId, "v2", 200, "A2"));
    await h.app.alarms.evaluate();
    expect(ids(h)).toEqual([]);
    await h.app.alarms.webhook?.idle();
    expect(hook.received.map((each) => JSON.parse(each.body).event)).toEqual(["raised", "cleared"]);
  });

  it("keeps selling and /healthz answering while the webhook receiver hangs", async () => {
    const { h, hook } = await bridgeWithWebhook(["hang", "hang", "hang", "hang", "hang", "hang"]);
    h.fleet.setOnline("M2", false);
    await h.clock.advance(10 * minute);
    await h.app.alarms.evaluate();
    expect(ids(h)).toEqual(["machine-offline:M2"]);
    await eventually(() => expect(hook.received).toHaveLength(1)); // the POST hangs, unanswered
    const { reference, sessionId } = await h.reservedPurchase();
    await h.vendAndEnd(sessionId, [150]);
    await h.drainOutbox();
    await h.waitForState(reference, "committed");
    const health = await fetch(`${h.app.admin.url}/healthz`);
    expect(health.status).toBe(200);
  });
});
