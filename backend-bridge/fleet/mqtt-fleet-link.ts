import type { Socket } from "node:net";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { tokenId } from "../../config/field.ts";
import type { Clock } from "../../platform/clock.ts";
import { systemClock } from "../../platform/clock.ts";
import type { Logger } from "../../platform/logger.ts";
import {
  type Availability,
  availability as availabilitySchema,
  type CommandName,
  decodePayload,
  eventSchemas,
  isEventName,
  type MachineState,
  machineState,
} from "../../protocol/messages.ts";
import { fleetFilters, machineTopics, parseTopic } from "../../protocol/topics.ts";
import { AckBatcher } from "./ack-batcher.ts";
import { AvailabilityTracker } from "./availability-tracker.ts";
import { buildCommand, newCommandId } from "./command-builder.ts";
import type { CommandBody, FleetEvent, FleetEventHandler, FleetLink } from "./fleet-link.ts";
import type { MachineKeys } from "./machine-keys.ts";
import { RecentIds } from "./recent-ids.ts";
import { WarningThrottle } from "./warning-throttle.ts";

/**
 * FleetLink over one MQTT.js client, to the embedded aedes or to an external broker.
 *
 * Session choice: clean session (clean: true), subscriptions made again on every CONNACK. A persistent session would
 * let the broker queue events while the bridge is away, but the agents keep every unacknowledged event in their
 * journal and resend it until `cmd/ack` arrives, which already covers a bridge or broker restart (an in-memory
 * broker loses its queues anyway), and it keeps no unbounded offline queue in the broker (aedes #1087).
 *
 * Events: validated against the contract, deduplicated by (machine, eventId) in memory (the store's unique key is
 * the durable dedupe), handed to the handler one at a time per machine (in arrival order), acknowledged only once the
 * handler resolved; a rejection is not acknowledged, so the agent resends. A duplicate of a handled event is
 * acknowledged again without reaching the handler: the agent did not get the first ack.
 */

export interface MqttFleetLinkOptions {
  /** mqtt://host:port or mqtts://host:port */
  url: string;
  username?: string;
  password?: string;
  /** PEM CA of the broker (mqtts). */
  ca?: string | Buffer;
  /** Client certificate and key, for brokers that authenticate the bridge by certificate. */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** Server name checked against the broker's certificate (defaults to the URL's host). */
  servername?: string;
  /**
   * Trust `ca` itself even when it is not a self-signed root (OpenSSL's partial chain): the bridge reaching its own
   * embedded broker trusts exactly the server certificate it serves, whoever signed it.
   */
  trustCaAsAnchor?: boolean;
  /** Defaults to `<username>-<random>`: unique, so that two bridge instances never take over each other's session. */
  clientId?: string;
  rootTopic: string;
  /** External brokers: events go through `$share/<group>/...` so several bridges split them. Not for aedes 1.x. */
  sharedSubscriptionGroup?: string;
  keys: MachineKeys;
  /** Default command lifetime (expiresAt = issuedAt + ttl), config timeouts.commandTtlMs. */
  commandTtlMs: number;
  logger: Logger;
  clock?: Clock;
  /** How long acks are collected before one `cmd/ack` goes out. */
  ackDelayMs?: number;
  /** How many handled event ids are remembered for deduplication. */
  dedupeCapacity?: number;
  reconnectPeriodMs?: number;
  keepaliveSeconds?: number;
  /** start() waits this long for the first connection, then resolves anyway and keeps reconnecting. */
  connectWaitMs?: number;
  /**
   * The machines the bridge knows (its registry). With it, the link asks the broker again, every
   * `retainedResync.intervalMs`, for the retained availability and state of those it does not count online: a broker
   * drops what a client has not taken yet beyond its queue (Mosquitto's max_queued_messages, 1,000 by default), and
   * after a broker restart every machine says `online` at once, so without this a machine whose `online` was dropped
   * stays unsellable until it reconnects.
   */
  registeredMachines?: () => Promise<readonly string[]>;
  /**
   * Default every 10 s, 100 machines (200 retained topics) per SUBSCRIBE, one SUBSCRIBE at a time: a batch must fit
   * in the broker's queue for one client.
   */
  retainedResync?: { intervalMs: number; batchSize: number };
}

export class FleetLinkError extends Error {
  override name = "FleetLinkError";
}

const defaultRetainedResync = { intervalMs: 10_000, batchSize: 100 };

type AvailabilityListener = (machineId: string, availability: Availability) => void;

export class MqttFleetLink implements FleetLink {
  readonly #options: MqttFleetLinkOptions;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #availability = new AvailabilityTracker();
  readonly #states = new Map<string, MachineState>();
  readonly #handled: RecentIds;
  readonly #inFlight = new Set<string>();
  readonly #chains = new Map<string, Promise<void>>();
  readonly #availabilityListeners: AvailabilityListener[] = [];
  readonly #stateListeners: ((machineId: string, state: MachineState) => void)[] = [];
  readonly #connectionListeners: ((connected: boolean) => void)[] = [];
  readonly #acks: AckBatcher;
  #handler: FleetEventHandler | undefined;
  #client: MqttClient | undefined;
  /** Invalid messages from machines: each counted, logged at most 10 a minute per machine (with the held-back count). */
  readonly #invalid = new WarningThrottle({ perWindow: 10, windowMs: 60_000 });
  #subscribed = false;
  /** stop() is ending the connection: errors from its last writes are expected. */
  #stopping = false;
  #resyncTimer: ReturnType<Clock["setTimeout"]> | undefined;

  constructor(options: MqttFleetLinkOptions) {
    if (!/^[^#+]+[^/#+]$/.test(options.rootTopic)) throw new FleetLinkError(`invalid root topic ${options.rootTopic}`);
    this.#options = options;
    this.#logger = options.logger.child({ module: "fleet-link" });
    this.#clock = options.clock ?? systemClock;
    this.#handled = new RecentIds(options.dedupeCapacity ?? 10_000);
    this.#acks = new AckBatcher({
      clock: this.#clock,
      delayMs: options.ackDelayMs ?? 20,
      flush: (machineId, eventIds) => {
        this.send(machineId, "ack", { eventIds }).catch((error: unknown) => {
          // Not fatal: the agent resends the events, they are recognised as duplicates and acknowledged again.
          this.#logger.warn({ machineId, count: eventIds.length, err: String(error) }, "could not send ack");
        });
      },
    });
  }

  start(): Promise<void> {
    if (this.#client) return Promise.resolve();
    this.#stopping = false;
    const o = this.#options;
    const clientOptions: IClientOptions = {
      protocolVersion: 4,
      clean: true,
      clientId: o.clientId ?? `${o.username ?? "vend-bridge"}-${newCommandId().slice(0, 8)}`,
      keepalive: o.keepaliveSeconds ?? 30,
      reconnectPeriod: o.reconnectPeriodMs ?? 1_000,
      // The bridge's credentials can be fixed on the broker while it runs: keep retrying after a refusal too.
      reconnectOnConnackError: true,
      connectTimeout: 10_000,
      // We subscribe on every CONNACK ourselves (MQTT.js does not on the first one).
      resubscribe: false,
      queueQoSZero: false,
      ...(o.username !== undefined ? { username: o.username } : {}),
      ...(o.password !== undefined ? { password: o.password } : {}),
      ...(o.ca !== undefined ? { ca: o.ca } : {}),
      ...(o.cert !== undefined ? { cert: o.cert } : {}),
      ...(o.key !== undefined ? { key: o.key } : {}),
      ...(o.servername !== undefined ? { servername: o.servername } : {}),
      ...(o.trustCaAsAnchor ? { allowPartialTrustChain: true } : {}),
    };
    const client = mqtt.connect(o.url, clientOptions);
    this.#client = client;

    client.on("connect", () => {
      // MQTT.js leaves Nagle on: a QoS 1 exchange would wait for delayed ACKs (+20 ms p50, performance-facts.md).
      (client.stream as Partial<Socket> | undefined)?.setNoDelay?.(true);
      this.#logger.info({ url: o.url, clientId: clientOptions.clientId }, "connected to the MQTT broker");
      this.#subscribe(client).catch((error: unknown) => {
        this.#logger.error({ err: String(error) }, "subscribing to the fleet's topics failed; reconnecting");
        client.stream?.destroy();
      });
    });
    client.on("message", (topic, payload, packet) => this.#onMessage(topic, payload, packet.retain));
    client.on("error", (error) => {
      // While stop() ends the connection, a last write racing the end ("write after end") is part of stopping, not a
      // failure: an operator must not read an error in a clean shutdown (seen in the demo's Ctrl-C test under load).
      if (this.#stopping) {
        this.#logger.debug({ url: o.url, err: error.message }, "MQTT error while stopping");
        return;
      }
      // Say why plainly: refused credentials, TLS, DNS, connection refused.
      this.#logger.error({ url: o.url, err: error.message }, `MQTT connection failed: ${error.message}`);
    });
    client.on("close", () => {
      if (this.#subscribed) {
        this.#subscribed = false;
        this.#logger.warn({ url: o.url }, "lost the MQTT broker; reconnecting");
        this.#notifyConnection(false);
      }
    });

    const waitMs = o.connectWaitMs ?? 10_000;
    return new Promise((resolve) => {
      const timer = this.#clock.setTimeout(() => {
        this.#connectionListeners.splice(this.#connectionListeners.indexOf(onConnected), 1);
        this.#logger.warn({ url: o.url, waitMs }, "MQTT broker not reachable yet; starting anyway, still trying");
        resolve();
      }, waitMs);
      const onConnected = (connected: boolean) => {
        if (!connected) return;
        this.#clock.clearTimeout(timer);
        this.#connectionListeners.splice(this.#connectionListeners.indexOf(onConnected), 1);
        resolve();
      };
      this.#connectionListeners.push(onConnected);
    });
  }

  async #subscribe(client: MqttClient): Promise<void> {
    const root = this.#options.rootTopic;
    const filters = fleetFilters(root);
    const group = this.#options.sharedSubscriptionGroup;
    const events = group ? `$share/${group}/${filters.events}` : filters.events;
    const granted = await client.subscribeAsync({
      [filters.availability]: { qos: 1 },
      [filters.state]: { qos: 1 },
      [events]: { qos: 1 },
    });
    const refused = granted.filter((grant) => grant.qos === 128).map((grant) => grant.topic);
    if (refused.length > 0) throw new FleetLinkError(`the broker refused the subscriptions ${refused.join(", ")}`);
    this.#subscribed = true;
    this.#logger.info({ filters: granted.map((grant) => grant.topic) }, "subscribed to the fleet");
    this.#notifyConnection(true);
    this.#scheduleResync();
  }

  #scheduleResync(): void {
    if (!this.#options.registeredMachines || this.#resyncTimer !== undefined) return;
    const { intervalMs } = this.#options.retainedResync ?? defaultRetainedResync;
    this.#resyncTimer = this.#clock.setTimeout(() => {
      this.resyncRetained()
        .catch((error: unknown) => {
          // The next pass tries again; a lost connection resubscribes (and gets every retained message) anyway.
          this.#logger.warn({ err: String(error) }, "asking the broker again for retained availability failed");
        })
        .finally(() => {
          this.#resyncTimer = undefined;
          if (this.#subscribed) this.#scheduleResync();
        });
    }, intervalMs);
    this.#resyncTimer.unref?.();
  }

  /**
   * Asks the broker again for the retained availability and state of every registered machine not counted online:
   * a SUBSCRIBE to their exact topics (the broker sends what it retains for them), then UNSUBSCRIBE, a batch at a
   * time. Copies of what the link already has are recognised as such by the availability tracker and the state's ts.
   */
  async resyncRetained(): Promise<void> {
    const client = this.#client;
    const registered = this.#options.registeredMachines;
    if (!client || !registered || !this.#subscribed) return;
    const { batchSize } = this.#options.retainedResync ?? defaultRetainedResync;
    const missing = (await registered()).filter((machineId) => !this.#availability.isOnline(machineId));
    const before = this.#availability.onlineCount();
    for (let start = 0; start < missing.length; start += batchSize) {
      if (!this.#subscribed || client !== this.#client) return;
      const topics = missing.slice(start, start + batchSize).flatMap((machineId) => {
        const topics = machineTopics(this.#options.rootTopic, machineId);
        return [topics.availability, topics.state];
      });
      await client.subscribeAsync(topics, { qos: 1 });
      await client.unsubscribeAsync(topics);
    }
    const recovered = this.#availability.onlineCount() - before;
    if (recovered > 0) {
      this.#logger.warn(
        { recovered, asked: missing.length },
        "machines online that the broker's live messages had not told: their online was dropped on the way (broker queue full?)",
      );
    }
  }

  async stop(): Promise<void> {
    const client = this.#client;
    if (!client) return;
    this.#stopping = true;
    this.#acks.flushAll();
    this.#acks.clear();
    if (this.#resyncTimer !== undefined) this.#clock.clearTimeout(this.#resyncTimer);
    this.#resyncTimer = undefined;
    await client.endAsync();
    this.#client = undefined;
    if (this.#subscribed) {
      this.#subscribed = false;
      this.#notifyConnection(false);
    }
  }

  async send<N extends CommandName>(
    machineId: string,
    name: N,
    body: CommandBody<N>,
    options: { ttlMs?: number; commandId?: string } = {},
  ): Promise<string> {
    if (!tokenId.safeParse(machineId).success)
      throw new FleetLinkError(`invalid machine id ${JSON.stringify(machineId)}`);
    const client = this.#client;
    if (!client?.connected) throw new FleetLinkError("the MQTT broker is not connected");
    const commandKey = await this.#options.keys.commandKey(machineId);
    const ttlMs = options.ttlMs ?? this.#options.commandTtlMs;
    const payload = buildCommand({
      machineId,
      name,
      body,
      now: this.#clock.now(),
      ttlMs,
      ...(options.commandId !== undefined ? { commandId: options.commandId } : {}),
      ...(commandKey !== undefined ? { commandKey } : {}),
    });
    const topic = machineTopics(this.#options.rootTopic, machineId).command(name);
    // Resolves on PUBACK. If the link drops first, MQTT.js would retry after reconnecting; the command has expired
    // for the agent by then anyway, so the caller hears of it after the ttl instead of waiting forever.
    let timer: ReturnType<Clock["setTimeout"]> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = this.#clock.setTimeout(
        () => reject(new FleetLinkError(`no PUBACK for ${name} to ${machineId} within ${ttlMs} ms`)),
        ttlMs,
      );
    });
    try {
      await Promise.race([client.publishAsync(topic, JSON.stringify(payload), { qos: 1, retain: false }), timeout]);
    } finally {
      if (timer) this.#clock.clearTimeout(timer);
    }
    this.#logger.debug({ machineId, command: name, commandId: payload.commandId }, "command sent");
    return payload.commandId;
  }

  onEvent(handler: FleetEventHandler): void {
    this.#handler = handler;
  }

  /** False while the link to the broker is down: what we know of the machines may be stale, and commands cannot go out. */
  isOnline(machineId: string): boolean {
    return this.#subscribed && this.#availability.isOnline(machineId);
  }

  onAvailability(listener: AvailabilityListener): void {
    this.#availabilityListeners.push(listener);
  }

  onState(listener: (machineId: string, state: MachineState) => void): void {
    this.#stateListeners.push(listener);
  }

  lastState(machineId: string): MachineState | undefined {
    return this.#states.get(machineId);
  }

  onlineCount(): number {
    return this.#subscribed ? this.#availability.onlineCount() : 0;
  }

  /** Connected and subscribed (not part of FleetLink): for health checks. */
  isConnected(): boolean {
    return this.#subscribed;
  }

  /** Hears of the link to the broker going up (subscribed) and down (not part of FleetLink). */
  onConnectionChange(listener: (connected: boolean) => void): void {
    this.#connectionListeners.push(listener);
  }

  /** The last availability accepted for a machine, online or not (not part of FleetLink). */
  availabilityOf(machineId: string): Availability | undefined {
    return this.#availability.get(machineId);
  }

  #notifyConnection(connected: boolean): void {
    for (const listener of [...this.#connectionListeners]) {
      try {
        listener(connected);
      } catch (error) {
        this.#logger.error({ err: String(error) }, "connection listener failed");
      }
    }
  }

  #onMessage(topic: string, payload: Buffer, retained: boolean): void {
    const parsed = parseTopic(this.#options.rootTopic, topic);
    if (!parsed) {
      this.#logger.debug({ topic }, "message outside the contract's topics ignored");
      return;
    }
    switch (parsed.kind) {
      case "availability":
        this.#onAvailability(parsed.machineId, payload);
        return;
      case "state":
        this.#onState(parsed.machineId, payload);
        return;
      case "event":
        if (payload.length === 0) {
          // An empty publish on an event topic deletes a retained copy (#onRetainedEvent clears them so): the broker
          // hands it to subscribers as well. It carries no event, so it is neither handled nor counted as invalid.
          this.#logger.debug({ topic }, "a retained event's clearing passed by");
          return;
        }
        if (retained) {
          this.#onRetainedEvent(topic, parsed.machineId, parsed.name, payload);
          return;
        }
        this.#onEvent(parsed.machineId, parsed.name, payload);
        return;
      case "cmd":
        return;
    }
  }

  #onAvailability(machineId: string, raw: Buffer): void {
    if (raw.length === 0) {
      // An empty retained message deletes the retained availability: the machine was decommissioned.
      this.#availability.forget(machineId);
      return;
    }
    const decoded = decodePayload(availabilitySchema, raw);
    if (!decoded.ok) {
      this.#warnInvalid(machineId, "availability", decoded.error, raw, "invalid availability ignored");
      return;
    }
    const { decision, changed } = this.#availability.apply(machineId, decoded.value);
    if (decision === "stale") {
      this.#logger.debug({ machineId, availability: decoded.value }, "stale availability ignored");
      return;
    }
    if (!changed) return;
    this.#logger.info({ machineId, ...decoded.value }, `machine ${decoded.value.state}`);
    for (const listener of this.#availabilityListeners) {
      try {
        listener(machineId, decoded.value);
      } catch (error) {
        this.#logger.error({ machineId, err: String(error) }, "availability listener failed");
      }
    }
  }

  #onState(machineId: string, raw: Buffer): void {
    if (raw.length === 0) {
      this.#states.delete(machineId);
      return;
    }
    const decoded = decodePayload(machineState, raw);
    if (!decoded.ok) {
      this.#warnInvalid(machineId, "state", decoded.error, raw, "invalid machine state ignored");
      return;
    }
    const previous = this.#states.get(machineId);
    // Retained copies may arrive again after a resubscribe: never go back in time.
    if (previous && previous.ts > decoded.value.ts) return;
    this.#states.set(machineId, decoded.value);
    for (const listener of this.#stateListeners) {
      try {
        listener(machineId, decoded.value);
      } catch (error) {
        this.#logger.error({ machineId, err: String(error) }, "state listener failed");
      }
    }
    const held = decoded.value.pendingSelection;
    if (held && held.expiresAt !== previous?.pendingSelection?.expiresAt) {
      // Selection first: the next createPurchase for this machine reserves exactly this price (operators see why).
      this.#logger.info({ machineId, ...held }, "machine holds a selection for payment");
    }
  }

  /** How many messages from machines were refused as outside the contract (logged or held back). */
  invalidMessageCount(): number {
    return this.#invalid.total();
  }

  /**
   * A message the contract does not allow: never acted on, always counted, logged with the first bytes of what came
   * (for the technician), at most 10 a minute per machine; the next line logged says how many were held back.
   */
  #warnInvalid(machineId: string, message: string, error: string, raw: Buffer, text: string): void {
    const decision = this.#invalid.admit(machineId, this.#clock.now());
    if (!decision.log) return;
    this.#logger.warn(
      {
        machineId,
        message,
        error,
        bytes: raw.length,
        start: raw.subarray(0, 120).toString("utf8"),
        ...(decision.suppressed > 0 ? { suppressedSinceLast: decision.suppressed } : {}),
      },
      text,
    );
  }

  /**
   * A retained copy of an event: something that happened once, replayed to whoever subscribes. The embedded broker
   * refuses a machine's retained event, Mosquitto's ACL cannot (docs/external-mosquitto.md), so the link refuses it:
   * never handled, never acknowledged (if it was live once, it was handled then), counted and logged like any message
   * outside the contract, and cleared from the broker so that the next subscriber does not get it again.
   */
  #onRetainedEvent(topic: string, machineId: string, name: string, raw: Buffer): void {
    this.#warnInvalid(machineId, `event/${name}`, "retained", raw, "retained event ignored and cleared");
    this.#client?.publishAsync(topic, "", { qos: 1, retain: true }).catch((error: unknown) => {
      this.#logger.warn({ machineId, topic, err: String(error) }, "could not clear a retained event");
    });
  }

  #onEvent(machineId: string, name: string, raw: Buffer): void {
    if (!isEventName(name)) {
      this.#warnInvalid(machineId, `event/${name}`, "not an event of the contract", raw, "unknown event dropped");
      return;
    }
    const decoded = decodePayload(eventSchemas[name], raw);
    if (!decoded.ok) {
      this.#warnInvalid(machineId, `event/${name}`, decoded.error, raw, "invalid event dropped (not acknowledged)");
      return;
    }
    const payload = decoded.value;
    const key = `${machineId}\u0000${payload.eventId}`;
    if (this.#handled.has(key)) {
      this.#logger.debug({ machineId, eventId: payload.eventId }, "duplicate event acknowledged again");
      this.#acks.add(machineId, payload.eventId);
      return;
    }
    // The first copy is still being stored: its completion acknowledges both.
    if (this.#inFlight.has(key)) return;
    const handler = this.#handler;
    if (!handler) {
      this.#logger.warn(
        { machineId, event: name },
        "no event handler registered yet: event left for the agent to resend",
      );
      return;
    }
    const event = { machineId, name, payload } as FleetEvent;
    this.#inFlight.add(key);
    const previous = this.#chains.get(machineId) ?? Promise.resolve();
    const run = previous.then(() => handler(event));
    const notStored = (error: unknown) =>
      this.#logger.warn(
        { machineId, event: name, eventId: payload.eventId, err: String(error) },
        "event not stored durably: not acknowledged, the agent will resend it",
      );
    // Acknowledged once stored and durable; the machine's next event is handled as soon as this one is stored.
    void run
      .then(async (stored) => {
        if (stored) await stored.durable;
        this.#handled.add(key);
        this.#acks.add(machineId, payload.eventId);
      })
      .catch(notStored)
      .finally(() => this.#inFlight.delete(key));
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    void settled.then(() => {
      if (this.#chains.get(machineId) === settled) this.#chains.delete(machineId);
    });
    this.#chains.set(machineId, settled);
  }
}
