import { randomBytes, randomUUID } from "node:crypto";
import type { IClientOptions } from "mqtt";
import { afterEach, beforeEach, expect, it } from "vitest";
import type { FleetEvent } from "../../backend-bridge/fleet/fleet-link.ts";
import { InMemoryMachineKeys } from "../../backend-bridge/fleet/machine-keys.ts";
import { MqttFleetLink, type MqttFleetLinkOptions } from "../../backend-bridge/fleet/mqtt-fleet-link.ts";
import { silentLogger } from "../../platform/logger.ts";
import { type MachineState, unlockCommand } from "../../protocol/messages.ts";
import { verifyCommandSignature } from "../../protocol/signing.ts";
import { waitFor } from "../broker/helpers.ts";
import { FakeAgent } from "./fake-agent.ts";

/**
 * The FleetLink behaviours, run against the embedded aedes and against the real Mosquitto. The environment gives
 * the URL, the root topic, the machine ids (with their login options) and the bridge's login.
 */
export interface FleetEnvironment {
  url(): string;
  root: string;
  machines: [string, string];
  agentOptions(machineId: string): IClientOptions;
  linkOptions: Partial<MqttFleetLinkOptions>;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function sampleState(ts: number): MachineState {
  return {
    screen: "idle",
    session: null,
    hardware: { driver: "simulator", link: "up" },
    lastFault: null,
    versions: { agent: "0.1.0", contract: 1 },
    ts,
  };
}

export function fleetLinkSuite(env: FleetEnvironment): void {
  const [machineA, machineB] = env.machines;
  const keyA = randomBytes(32).toString("hex");
  const keyB = randomBytes(32).toString("hex");
  /** A machine the registry has no key for: nothing can be signed for it, so nothing is sent. */
  const machineWithoutKey = "M-nokey";
  let link: MqttFleetLink;
  let agents: FakeAgent[] = [];
  let handled: FleetEvent[];

  const agent = async (machineId: string) => {
    const fake = await FakeAgent.connect(env.url(), env.root, machineId, env.agentOptions(machineId));
    agents.push(fake);
    return fake;
  };
  const newLink = (overrides: Partial<MqttFleetLinkOptions> = {}) =>
    new MqttFleetLink({
      url: env.url(),
      rootTopic: env.root,
      keys: new InMemoryMachineKeys([
        [machineA, keyA],
        [machineB, keyB],
      ]),
      commandTtlMs: 30_000,
      logger: silentLogger(),
      reconnectPeriodMs: 100,
      ackDelayMs: 10,
      connectWaitMs: 5_000,
      ...env.linkOptions,
      ...overrides,
    });

  beforeEach(async () => {
    handled = [];
    link = newLink();
    link.onEvent(async (event) => {
      handled.push(event);
    });
    await link.start();
    expect(link.isConnected()).toBe(true);
  });
  afterEach(async () => {
    await link.stop();
    for (const fake of agents) await fake.clearRetained().catch(() => {});
    await Promise.all(agents.map((fake) => fake.close()));
    agents = [];
  });

  it("tracks availability from the retained topic, ordered by bootSeq", async () => {
    const a = await agent(machineA);
    const seen: string[] = [];
    link.onAvailability((id, availability) => seen.push(`${id}:${availability.state}:${availability.bootSeq}`));
    await a.availability({ state: "online", bootId: "boot-4", bootSeq: 4, ts: 1_000 });
    await waitFor(() => link.isOnline(machineA), 3_000, "online");
    expect(link.onlineCount()).toBe(1);
    // A stale LWT of the previous boot arrives late: ignored.
    await a.availability({ state: "offline", bootId: "boot-3", bootSeq: 3, ts: 500 });
    // The LWT of this boot (its ts is the CONNECT time, older than the online): accepted.
    await a.availability({ state: "offline", bootId: "boot-4", bootSeq: 4, ts: 900 });
    await waitFor(() => !link.isOnline(machineA), 3_000, "offline");
    // A redelivered copy of the old online of this boot: ignored. A reconnect of this boot: accepted.
    await a.availability({ state: "online", bootId: "boot-4", bootSeq: 4, ts: 1_000 });
    await a.availability({ state: "online", bootId: "boot-4", bootSeq: 4, ts: 2_000 });
    await waitFor(() => seen.length === 3, 3_000, "three changes");
    expect(seen).toEqual([`${machineA}:online:4`, `${machineA}:offline:4`, `${machineA}:online:4`]);
    expect(link.availabilityOf(machineA)).toMatchObject({ ts: 2_000 });
    // The agent reconnects again without going offline first (its broker restarted, no LWT was published): a newer
    // online of the same boot is news, so the bridge resends what the agent may have missed; a copy is not.
    await a.availability({ state: "online", bootId: "boot-4", bootSeq: 4, ts: 3_000 });
    await waitFor(() => seen.length === 4, 3_000, "the same-boot reconnect");
    await a.availability({ state: "online", bootId: "boot-4", bootSeq: 4, ts: 3_000 });
    await a.availability({ state: "online", bootId: "boot-4", bootSeq: 4, ts: 4_000 });
    await waitFor(() => link.availabilityOf(machineA)?.ts === 4_000, 3_000, "the next reconnect");
    // Messages of one topic arrive in order: the copy was handled before the 4 000 one, and was no change.
    expect(seen).toHaveLength(5);

    // A bridge that starts later gets the retained copy.
    const late = newLink();
    await late.start();
    try {
      await waitFor(() => late.isOnline(machineA), 3_000, "retained online");
    } finally {
      await late.stop();
    }
  });

  it("keeps the last valid retained state and ignores invalid ones", async () => {
    const a = await agent(machineA);
    await a.raw(a.topics.state, JSON.stringify(sampleState(5_000)), true);
    await waitFor(() => link.lastState(machineA)?.ts === 5_000, 3_000, "state");
    await a.raw(a.topics.state, JSON.stringify({ ...sampleState(6_000), screen: "dancing" }), true);
    await a.raw(a.topics.state, "not json", true);
    await a.raw(a.topics.state, JSON.stringify(sampleState(7_000)), true);
    await waitFor(() => link.lastState(machineA)?.ts === 7_000, 3_000, "newer state");
    expect(link.lastState(machineB)).toBeUndefined();
  });

  it("sends signed unlocks that verify with the machine's key, with commandId, issuedAt and expiresAt", async () => {
    const a = await agent(machineA);
    const before = Date.now();
    const commandId = await link.send(
      machineA,
      "unlock",
      { sessionId: "S-1", budgetMinor: 2_000, currency: "EUR" },
      { ttlMs: 15_000 },
    );
    await waitFor(() => a.commands.length === 1, 3_000, "the unlock");
    const command = a.commands[0];
    expect(command?.name).toBe("unlock");
    const payload = unlockCommand.parse(command?.payload);
    expect(payload.commandId).toBe(commandId);
    expect(payload.issuedAt).toBeGreaterThanOrEqual(before);
    expect(payload.expiresAt - payload.issuedAt).toBe(15_000);
    expect(verifyCommandSignature(keyA, machineA, "unlock", payload)).toBe(true);
    // Bound to the machine, the command name and every field.
    expect(verifyCommandSignature(keyA, machineB, "unlock", payload)).toBe(false);
    expect(verifyCommandSignature(keyA, machineA, "unlock", { ...payload, budgetMinor: 2_001 })).toBe(false);
    expect(verifyCommandSignature(randomBytes(32).toString("hex"), machineA, "unlock", payload)).toBe(false);
  });

  it("refuses to send what it cannot sign or what the contract forbids, with a clear error", async () => {
    await expect(
      link.send(machineWithoutKey, "unlock", { sessionId: "S-2", budgetMinor: 100, currency: "EUR" }),
    ).rejects.toThrow(/no command key/);
    await expect(link.send(machineA, "unlock", { sessionId: "S-2", budgetMinor: -5, currency: "EUR" })).rejects.toThrow(
      /budgetMinor/,
    );
    await expect(link.send("a/b/#", "ping", {})).rejects.toThrow(/invalid machine id/);
    // Every command is signed: without a key not even a ping or an ack goes out.
    await expect(link.send(machineWithoutKey, "ping", {})).rejects.toThrow(/no command key/);
    await expect(link.send(machineWithoutKey, "ack", { eventIds: ["e-1"] })).rejects.toThrow(/no command key/);
    await expect(link.send(machineB, "ping", {})).resolves.toMatch(/.+/);
  });

  it("acknowledges an event only after the handler resolved, and not at all when it rejects", async () => {
    const a = await agent(machineA);
    let release: () => void = () => {};
    let fail = true;
    link.onEvent(
      (event) =>
        new Promise<void>((resolve, reject) => {
          handled.push(event);
          if (fail) {
            fail = false;
            reject(new Error("database down"));
          } else release = resolve;
        }),
    );
    const event = a.pong();
    await a.event("pong", event);
    await waitFor(() => handled.length === 1, 3_000, "first delivery");
    await sleep(150);
    expect(a.acks()).toEqual([]);

    // The agent resends; this time the handler takes its time.
    await a.event("pong", event);
    await waitFor(() => handled.length === 2, 3_000, "second delivery");
    await sleep(150);
    expect(a.acks()).toEqual([]);
    release();
    await waitFor(() => a.acks().length === 1, 3_000, "the ack");
    expect(a.acks()).toEqual([[event.eventId]]);
    expect(handled[1]).toMatchObject({ machineId: machineA, name: "pong", payload: event });
  });

  it("acknowledges an event stored with a deferred commit only once it is durable, and handles the next one meanwhile", async () => {
    const a = await agent(machineA);
    let makeDurable: () => void = () => {};
    const durable = new Promise<void>((resolve) => (makeDurable = resolve));
    link.onEvent(async (event) => {
      handled.push(event);
      return handled.length === 1 ? { durable } : undefined;
    });
    const first = a.pong();
    const second = a.pong();
    await a.event("pong", first);
    await a.event("pong", second);
    // The second event is handled (and acknowledged) while the first waits for its fsync.
    await waitFor(() => handled.length === 2 && a.acks().length === 1, 3_000, "the second handled and acknowledged");
    expect(a.acks()).toEqual([[second.eventId]]);
    // A copy of the first, resent meanwhile, is not handled again and not acknowledged before it is durable.
    await a.event("pong", first);
    await sleep(150);
    expect(handled).toHaveLength(2);
    expect(a.acks()).toEqual([[second.eventId]]);
    makeDurable();
    await waitFor(() => a.acks().length === 2, 3_000, "the first's ack");
    expect(a.acks()[1]).toEqual([first.eventId]);
  });

  it("never acknowledges an event whose deferred commit could not be made durable", async () => {
    const a = await agent(machineA);
    link.onEvent(async (event) => {
      handled.push(event);
      return { durable: Promise.reject(new Error("fsync: EIO")) };
    });
    await a.event("pong", a.pong());
    await waitFor(() => handled.length === 1, 3_000, "the delivery");
    await sleep(150);
    expect(a.acks()).toEqual([]);
  });

  it("hands a duplicate event to the handler once and acknowledges every copy", async () => {
    const a = await agent(machineA);
    const event = a.pong();
    await a.event("pong", event);
    await waitFor(() => a.acks().length === 1, 3_000, "first ack");
    await a.event("pong", event);
    await waitFor(() => a.acks().length === 2, 3_000, "second ack");
    expect(handled).toHaveLength(1);
    expect(a.acks()).toEqual([[event.eventId], [event.eventId]]);
  });

  it("drops invalid and unknown events without crashing, and keeps going", async () => {
    const a = await agent(machineA);
    await a.raw(a.topics.event("pong"), "{not json");
    await a.raw(a.topics.event("pong"), JSON.stringify({ eventId: "x" }));
    await a.raw(a.topics.event("teleported"), JSON.stringify(a.pong()));
    const good = a.pong();
    await a.event("pong", good);
    await waitFor(() => handled.length === 1, 3_000, "the valid event");
    expect(handled[0]?.payload).toEqual(good);
    await waitFor(() => a.acks().length === 1, 3_000, "its ack");
    expect(a.acks()).toEqual([[good.eventId]]);
  });

  it("batches the acks of a burst and keeps each machine's events in order", async () => {
    const a = await agent(machineA);
    const b = await agent(machineB);
    const events = [a.pong(), a.pong(), a.pong()];
    link.onEvent(async (event) => {
      // The first event is slow: the later ones must still be handled after it.
      if (event.payload.eventId === events[0]?.eventId) await sleep(50);
      handled.push(event);
    });
    for (const event of events) await a.event("pong", event);
    await b.event("pong", b.pong());
    await waitFor(() => handled.length === 4, 3_000, "four events");
    expect(handled.filter((event) => event.machineId === machineA).map((event) => event.payload.eventId)).toEqual(
      events.map((event) => event.eventId),
    );
    await waitFor(() => a.acks().flat().length === 3 && b.acks().length === 1, 3_000, "the acks");
    expect(a.acks().length).toBeLessThanOrEqual(2);
    expect(new Set(a.acks().flat())).toEqual(new Set(events.map((event) => event.eventId)));
  });

  it("says the machines are unknown while the link is down", async () => {
    const a = await agent(machineA);
    await a.availability({ state: "online", bootId: randomUUID(), bootSeq: 1, ts: Date.now() });
    await waitFor(() => link.isOnline(machineA), 3_000, "online");
    await link.stop();
    expect(link.isOnline(machineA)).toBe(false);
    expect(link.onlineCount()).toBe(0);
    await expect(link.send(machineA, "ping", {})).rejects.toThrow(/not connected/);
  });
}
