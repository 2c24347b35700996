import { Writable } from "node:stream";
import fc from "fast-check";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EmbeddedBroker } from "../../backend-bridge/broker/embedded-broker.ts";
import type { FleetEvent } from "../../backend-bridge/fleet/fleet-link.ts";
import { InMemoryMachineKeys } from "../../backend-bridge/fleet/machine-keys.ts";
import { MqttFleetLink } from "../../backend-bridge/fleet/mqtt-fleet-link.ts";
import { WarningThrottle } from "../../backend-bridge/fleet/warning-throttle.ts";
import { systemClock } from "../../platform/clock.ts";
import { eventSchemas } from "../../protocol/messages.ts";
import { bridgeUser, startTestBroker, testCredentials, waitFor } from "../broker/helpers.ts";
import { FakeAgent } from "./fake-agent.ts";

/**
 * Issue 18: every MQTT message a machine may send (each event, availability, state), when it breaks the contract, is
 * never acted on or acknowledged, is counted, and is logged at most 10 times a minute per machine with the number
 * held back: rate-limited, never silently dropped.
 */

const eventNames = Object.keys(eventSchemas) as (keyof typeof eventSchemas)[];

/** A payload the contract refuses for `schema`: bytes, other JSON, or an object missing or twisting fields. */
const invalidPayload = fc.oneof(
  fc.string({ maxLength: 100 }),
  fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)),
  fc
    .record({ eventId: fc.oneof(fc.string(), fc.integer()), seq: fc.oneof(fc.string(), fc.double()), ts: fc.string() })
    .map((value) => JSON.stringify(value)),
  fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes).toString("latin1")),
);

describe("WarningThrottle", () => {
  it("logs at most perWindow a window per key, and every message is logged or counted on a later line", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom("M1", "M2", "M3"), fc.nat(30_000)), { maxLength: 300 }),
        fc.integer({ min: 1, max: 5 }),
        (steps, perWindow) => {
          const throttle = new WarningThrottle({ perWindow, windowMs: 60_000 });
          let now = 0;
          const perKey = new Map<string, { count: number; accounted: number; trailing: number }>();
          const loggedInWindow = new Map<string, { start: number; logged: number }>();
          for (const [key, gap] of steps) {
            now += gap;
            const decision = throttle.admit(key, now);
            const tally = perKey.get(key) ?? { count: 0, accounted: 0, trailing: 0 };
            tally.count++;
            if (decision.log) {
              tally.accounted += 1 + decision.suppressed;
              expect(decision.suppressed).toBe(tally.trailing);
              tally.trailing = 0;
              const window = loggedInWindow.get(key);
              if (!window || now - window.start >= 60_000) loggedInWindow.set(key, { start: now, logged: 1 });
              else window.logged++;
              expect(loggedInWindow.get(key)?.logged).toBeLessThanOrEqual(perWindow);
            } else tally.trailing++;
            perKey.set(key, tally);
          }
          for (const tally of perKey.values()) expect(tally.accounted + tally.trailing).toBe(tally.count);
          expect(throttle.total()).toBe(steps.length);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("invalid MQTT messages from a machine (embedded broker, real link)", () => {
  const machines = { M1: "password-of-m1" };
  let broker: EmbeddedBroker;
  let link: MqttFleetLink;
  let agent: FakeAgent;
  const handled: FleetEvent[] = [];
  const logLines: Record<string, unknown>[] = [];
  // One minute that never ends: the window of the throttle is the whole test.
  const frozen = { ...systemClock, now: () => 1_000_000 };

  beforeAll(async () => {
    broker = await startTestBroker({ credentials: testCredentials(machines) });
    const url = `mqtt://127.0.0.1:${broker.tcpPort}`;
    const sink = new Writable({
      write(chunk, _encoding, done) {
        for (const line of String(chunk).split("\n").filter(Boolean)) logLines.push(JSON.parse(line));
        done();
      },
    });
    link = new MqttFleetLink({
      url,
      rootTopic: "vending/v1",
      keys: new InMemoryMachineKeys([["M1", "ab".repeat(32)]]),
      commandTtlMs: 5_000,
      logger: pino({ level: "warn" }, sink),
      clock: frozen,
      ackDelayMs: 5,
      ...bridgeUser,
    });
    link.onEvent(async (event) => {
      handled.push(event);
    });
    await link.start();
    agent = await FakeAgent.connect(url, "vending/v1", "M1", { username: "M1", password: machines.M1 });
  });

  afterAll(async () => {
    await agent?.close();
    await link?.stop();
    await broker?.close();
  });

  it("are never handled nor acknowledged, always counted, and logged at most 10 a minute", async () => {
    let sent = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.constantFrom(...eventNames, "availability", "state", "no-such-event"), invalidPayload), {
          minLength: 1,
          maxLength: 8,
        }),
        async (messages) => {
          let count = 0;
          for (const [name, payload] of messages) {
            const schema = name in eventSchemas ? eventSchemas[name as keyof typeof eventSchemas] : undefined;
            // Skip the rare generated payload that happens to be valid, and empty retained clears (they mean "forget").
            if (payload === "") continue;
            if (schema && safeJson(payload, (value) => schema.safeParse(value).success)) continue;
            const topic =
              name === "availability"
                ? agent.topics.availability
                : name === "state"
                  ? agent.topics.state
                  : agent.topics.event(name as keyof typeof eventSchemas);
            await agent.raw(topic, payload);
            count++;
          }
          sent += count;
          // A valid event after them on the same connection: once it is handled, all before it were seen.
          const barrier = agent.pong();
          await agent.event("pong", barrier);
          await waitFor(() => handled.some((event) => event.payload.eventId === barrier.eventId), 5_000, "barrier");
          expect(link.invalidMessageCount()).toBe(sent);
        },
      ),
      { numRuns: 25 },
    );
    // Only the barriers were handled and acknowledged.
    expect(handled.every((event) => event.name === "pong")).toBe(true);
    await waitFor(() => agent.acks().flat().length === handled.length, 5_000, "the barriers' acks");
    expect(new Set(agent.acks().flat())).toEqual(new Set(handled.map((event) => event.payload.eventId)));
    const warnings = logLines.filter((line) => line.machineId === "M1" && typeof line.message === "string");
    expect(sent).toBeGreaterThan(10);
    expect(warnings).toHaveLength(10);
    expect(warnings[0]).toMatchObject({ level: 40, machineId: "M1", error: expect.any(String) });
  }, 120_000);
});

function safeJson(text: string, check: (value: unknown) => boolean): boolean {
  try {
    return check(JSON.parse(text));
  } catch {
    return false;
  }
}
