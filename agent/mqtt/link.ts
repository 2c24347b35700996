import { readFileSync } from "node:fs";
import type { Socket } from "node:net";
import type { IClientOptions, MqttClient } from "mqtt";
import type { AgentConfig } from "../../config/schema/agent.ts";
import type { Clock, TimerHandle } from "../../platform/clock.ts";
import type { Logger } from "../../platform/logger.ts";
import type { Availability, MachineState } from "../../protocol/messages.ts";
import { type MachineTopics, machineTopics, parseTopic } from "../../protocol/topics.ts";
import type { EventTransport } from "../events/outbox.ts";
import type { StoredEvent } from "../journal/journal-state.ts";
import { describeConnectError } from "./connect-errors.ts";
import { openMqttClient } from "./open-client.ts";

/**
 * The agent's MQTT link (design §5, conventions §2.3):
 * - `mqtt.connect` (not connectAsync: a daemon waits for its broker), clean session (a queued unlock from minutes ago
 *   is a hazard), MQTT.js' own reconnect off and ours on: forever, exponential, jittered (no lock-step storm after a
 *   broker restart), also after a CONNACK refusal, since credentials can be fixed on the broker's side;
 * - LWT availability `offline` with bootId and bootSeq, retained, QoS 1; `online` only once the hardware is up;
 * - retained `state`, republished on every connect; subscription to its own `cmd/+` in the connect handler;
 * - TCP_NODELAY on every connection (the Nagle trap: +20-40 ms per QoS 1 exchange otherwise);
 * - no QoS 0 queueing and no publishing while offline: the outbox resends events after the reconnect instead.
 */

export interface AgentLinkOptions {
  mqtt: AgentConfig["mqtt"];
  machineId: string;
  bootId: string;
  bootSeq: number;
  clock: Clock;
  logger: Logger;
  onCommand(name: string, payload: Buffer): void;
  /** Connected and subscribed: time to resend unacknowledged events. */
  onConnected(): void;
  random?: () => number;
  /** For tests: how to open the client (defaults to openMqttClient). */
  connect?: (url: string, options: IClientOptions) => MqttClient;
}

/**
 * "Full jitter" (AWS Architecture Blog, "Exponential Backoff And Jitter"): anywhere from a floor to an exponentially
 * growing ceiling, capped. A fleet that lost its broker at the same moment comes back spread over the whole window
 * instead of its upper half (issue 17: no lock-step after a broker restart). The floor keeps a run of unlucky draws
 * from becoming a busy loop.
 */
export function reconnectDelayMs(attempt: number, minMs: number, maxMs: number, random: () => number): number {
  const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30));
  const floor = Math.min(100, ceiling);
  return Math.round(floor + random() * (ceiling - floor));
}

export class AgentLink implements EventTransport {
  readonly topics: MachineTopics;
  readonly #o: AgentLinkOptions;
  readonly #log: Logger;
  #client: MqttClient | undefined;
  #online = false;
  #state: MachineState | undefined;
  #attempt = 0;
  #reconnectTimer: TimerHandle | undefined;
  #stopping = false;
  #lastFailure: string | undefined;
  #connected = false;

  constructor(options: AgentLinkOptions) {
    this.#o = options;
    this.topics = machineTopics(options.mqtt.rootTopic, options.machineId);
    this.#log = options.logger.child({ module: "mqtt" });
  }

  #availability(state: Availability["state"]): string {
    const payload: Availability = { state, bootId: this.#o.bootId, bootSeq: this.#o.bootSeq, ts: this.#o.clock.now() };
    return JSON.stringify(payload);
  }

  #clientOptions(): IClientOptions {
    const m = this.#o.mqtt;
    const readPem = (key: string, file: string | undefined) => {
      if (!file) return undefined;
      try {
        return readFileSync(file);
      } catch (error) {
        throw new Error(`mqtt.${key}: cannot read ${file}: ${(error as Error).message}`);
      }
    };
    const options: IClientOptions = {
      clientId: this.#o.machineId,
      username: m.username ?? this.#o.machineId,
      clean: true,
      keepalive: m.keepaliveSeconds,
      reconnectPeriod: 0,
      connectTimeout: 15_000,
      queueQoSZero: false,
      protocolVersion: 4,
      // mqtt.js would otherwise pre-make a Buffer for every 16-bit number it may write (65,536 of them, 6.5 MB of
      // heap, a third of the idle agent's), to save an allocation per packet on a link that sends a few a minute.
      writeCache: false,
      will: {
        topic: this.topics.availability,
        payload: Buffer.from(this.#availability("offline")),
        qos: 1,
        retain: true,
      },
    };
    if (m.password) options.password = m.password;
    const ca = readPem("caFile", m.caFile);
    const cert = readPem("certFile", m.certFile);
    const key = readPem("keyFile", m.keyFile);
    if (ca) options.ca = ca;
    if (cert) options.cert = cert;
    if (key) options.key = key;
    return options;
  }

  /** Starts connecting; returns at once. The link keeps trying until stop(). */
  start(): void {
    const connect = this.#o.connect ?? openMqttClient;
    const client = connect(this.#o.mqtt.url, this.#clientOptions());
    this.#client = client;
    client.on("connect", () => this.#onConnect(client));
    client.on("message", (topic, payload) => {
      const parsed = parseTopic(this.#o.mqtt.rootTopic, topic);
      if (parsed?.kind === "cmd" && parsed.machineId === this.#o.machineId) this.#o.onCommand(parsed.name, payload);
    });
    client.on("error", (error) => {
      const reason = describeConnectError(error, this.#o.mqtt.url);
      // Say it once per new reason at warn, repeats at debug: a broker down for an hour should not flood the journal.
      if (reason !== this.#lastFailure) this.#log.warn({ attempt: this.#attempt }, `MQTT connection failed: ${reason}`);
      else this.#log.debug({ attempt: this.#attempt }, `MQTT connection failed again: ${reason}`);
      this.#lastFailure = reason;
    });
    client.on("close", () => {
      if (this.#connected) this.#log.warn("MQTT connection lost");
      this.#connected = false;
      this.#scheduleReconnect();
    });
  }

  #scheduleReconnect(): void {
    if (this.#stopping || this.#reconnectTimer) return;
    const m = this.#o.mqtt;
    const delay = reconnectDelayMs(this.#attempt, m.reconnectMinMs, m.reconnectMaxMs, this.#o.random ?? Math.random);
    this.#attempt += 1;
    this.#log.debug({ delayMs: delay, attempt: this.#attempt }, "reconnecting");
    this.#reconnectTimer = this.#o.clock.setTimeout(() => {
      this.#reconnectTimer = undefined;
      if (!this.#stopping) this.#client?.reconnect();
    }, delay);
  }

  #onConnect(client: MqttClient): void {
    (client.stream as Partial<Socket> | undefined)?.setNoDelay?.(true);
    this.#attempt = 0;
    this.#lastFailure = undefined;
    this.#log.info({ url: this.#o.mqtt.url }, "MQTT connected");
    client.subscribe(this.topics.commandFilter, { qos: 1 }, (error, granted) => {
      if (error) {
        this.#log.error({ err: error }, "could not subscribe to commands");
        return;
      }
      if (granted?.some((grant) => grant.qos === 128)) {
        this.#log.error({ filter: this.topics.commandFilter }, "the broker refused our command subscription (ACL?)");
      }
      this.#connected = true;
      if (this.#online) this.#publishAvailability("online");
      if (this.#state) this.#publishRetainedState(this.#state);
      this.#o.onConnected();
    });
  }

  isConnected(): boolean {
    return this.#connected && this.#client?.connected === true;
  }

  /** The hardware is up: announce `online` now and on every reconnect. */
  setOnline(): void {
    this.#online = true;
    if (this.isConnected()) this.#publishAvailability("online");
  }

  publishState(state: MachineState): void {
    this.#state = state;
    if (this.isConnected()) this.#publishRetainedState(state);
  }

  publishEvent(event: StoredEvent): Promise<void> {
    const client = this.#client;
    if (!client || !this.isConnected()) return Promise.reject(new Error("not connected"));
    return new Promise((resolve, reject) => {
      client.publish(this.topics.event(event.name), JSON.stringify(event.payload), { qos: 1 }, (error) =>
        error ? reject(error) : resolve(),
      );
    });
  }

  #publishAvailability(state: Availability["state"]): void {
    this.#client?.publish(this.topics.availability, this.#availability(state), { qos: 1, retain: true }, (error) => {
      if (error) this.#log.debug({ err: error }, "availability not published");
    });
  }

  #publishRetainedState(state: MachineState): void {
    this.#client?.publish(this.topics.state, JSON.stringify(state), { qos: 1, retain: true }, (error) => {
      if (error) this.#log.debug({ err: error }, "state not published");
    });
  }

  /** Publishes `offline` (retained) when connected, then disconnects cleanly. */
  async stop(timeoutMs = 3_000): Promise<void> {
    this.#stopping = true;
    if (this.#reconnectTimer) this.#o.clock.clearTimeout(this.#reconnectTimer);
    const client = this.#client;
    if (!client) return;
    const within = <T>(work: Promise<T>) =>
      Promise.race([work, new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref())]);
    if (this.isConnected()) {
      await within(
        new Promise<void>((resolve) => {
          client.publish(this.topics.availability, this.#availability("offline"), { qos: 1, retain: true }, () =>
            resolve(),
          );
        }),
      );
    }
    this.#connected = false;
    await within(new Promise<void>((resolve) => client.end(false, {}, () => resolve())));
    client.end(true);
  }
}
