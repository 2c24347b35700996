import mqtt, { type MqttClient } from "mqtt";
import {
  type CommandName,
  type CommandPayload,
  commandSchemas,
  decodePayload,
  type EventName,
  type EventPayload,
  eventSchemas,
  isCommandName,
} from "../../../protocol/messages.ts";
import { verifyCommandSignature } from "../../../protocol/signing.ts";
import { machineTopics, parseTopic } from "../../../protocol/topics.ts";

/**
 * A vending machine played over raw MQTT.js, the way the agent behaves on the wire (design §5): it logs in with its
 * own credentials (client id = machine id), subscribes to its commands before it announces `online` (retained) on
 * every connect, validates every command against the contract and checks the signature of money-moving ones, and
 * keeps each event it publishes until the bridge acknowledges it with `cmd/ack`, resending the unacknowledged ones
 * after every reconnect. It decides nothing by itself: the test says when to publish what.
 */

type EventBody<N extends EventName> = Omit<EventPayload<N>, "eventId" | "seq" | "ts">;

export interface ReceivedCommand<N extends CommandName = CommandName> {
  name: N;
  payload: CommandPayload<N>;
  /** For signed commands: whether the signature verified with the machine's key. */
  signatureValid: boolean | undefined;
}

export class MqttMachine {
  readonly machineId: string;
  readonly commands: ReceivedCommand[] = [];
  /** Payloads that did not pass the contract's schema (a test asserts there are none). */
  readonly invalidCommands: { topic: string; error: string }[] = [];
  readonly acked = new Set<string>();
  readonly #unacked = new Map<string, { name: EventName; payload: Record<string, unknown>; sentAt: number }>();
  readonly #client: MqttClient;
  readonly #topics: ReturnType<typeof machineTopics>;
  readonly #rootTopic: string;
  readonly #commandKey: string;
  readonly #bootId = `boot-${Math.random().toString(36).slice(2, 10)}`;
  readonly #waiters = new Set<() => void>();
  readonly #resendTimer: NodeJS.Timeout | undefined;
  #seq = 0;
  #ready = false;
  connects = 0;
  /** Events sent again because no ack came within `resendAfterMs` (not counting the resends after a reconnect). */
  resends = 0;
  lastError: string | undefined;

  /**
   * `resendAfterMs`: an event still unacknowledged that long after it was sent goes again while connected, as the
   * agent's journal does. Without it, events are resent only after a reconnect. Several bridge instances behind one
   * Mosquitto need it: a killed instance's in-flight share of the events is dropped with it (Mosquitto 2.0.11,
   * eclipse-mosquitto/mosquitto#2662), and the machine's own connection never notices.
   */
  constructor(options: {
    url: string;
    machineId: string;
    password: string;
    commandKey: string;
    rootTopic?: string;
    resendAfterMs?: number;
  }) {
    this.machineId = options.machineId;
    this.#commandKey = options.commandKey;
    this.#rootTopic = options.rootTopic ?? "vending/v1";
    this.#topics = machineTopics(this.#rootTopic, options.machineId);
    this.#client = mqtt.connect(options.url, {
      protocolVersion: 4,
      clean: true,
      clientId: options.machineId,
      username: options.machineId,
      password: options.password,
      reconnectPeriod: 150,
      connectTimeout: 5_000,
      resubscribe: false,
    });
    // Refused connections while the bridge (and its broker) is down are expected: MQTT.js keeps retrying.
    this.#client.on("error", (error) => {
      this.lastError = error.message;
    });
    this.#client.on("close", () => {
      this.#ready = false;
    });
    this.#client.on("connect", () => {
      this.#onConnect().catch(() => this.#client.stream?.destroy());
    });
    this.#client.on("message", (topic, raw) => this.#onMessage(topic, raw));
    const resendAfterMs = options.resendAfterMs;
    if (resendAfterMs !== undefined) {
      this.#resendTimer = setInterval(() => this.#resendOverdue(resendAfterMs), Math.max(10, resendAfterMs / 4));
      this.#resendTimer.unref();
    }
  }

  #resendOverdue(resendAfterMs: number): void {
    if (!this.#ready) return;
    const now = Date.now();
    for (const entry of this.#unacked.values()) {
      if (entry.sentAt + resendAfterMs > now) continue;
      this.resends += 1;
      this.#publishRaw(entry);
    }
  }

  async #onConnect(): Promise<void> {
    await this.#client.subscribeAsync(this.#topics.commandFilter, { qos: 1 });
    const availability = { state: "online", bootId: this.#bootId, bootSeq: 1, ts: Date.now() };
    await this.#client.publishAsync(this.#topics.availability, JSON.stringify(availability), { qos: 1, retain: true });
    this.connects += 1;
    this.#ready = true;
    // What the bridge has not acknowledged is sent again, in order (the agent's journal does the same).
    for (const entry of this.#unacked.values()) this.#publishRaw(entry);
    this.#wake();
  }

  #onMessage(topic: string, raw: Buffer): void {
    const parsed = parseTopic(this.#rootTopic, topic);
    const name = parsed?.kind === "cmd" && parsed.machineId === this.machineId ? parsed.name : "";
    if (!isCommandName(name)) {
      this.invalidCommands.push({ topic, error: "unknown command" });
      return;
    }
    const decoded = decodePayload(commandSchemas[name], raw);
    if (!decoded.ok) {
      this.invalidCommands.push({ topic, error: decoded.error });
      return;
    }
    const payload = decoded.value as CommandPayload<typeof name>;
    const signatureValid =
      name === "unlock" || name === "config"
        ? verifyCommandSignature(this.#commandKey, this.machineId, name, JSON.parse(raw.toString()))
        : undefined;
    if (name === "ack") {
      for (const eventId of (payload as CommandPayload<"ack">).eventIds) {
        this.acked.add(eventId);
        this.#unacked.delete(eventId);
      }
    }
    this.commands.push({ name, payload, signatureValid } as ReceivedCommand);
    this.#wake();
  }

  /** Publishes an event (validated against the contract) and keeps it until acknowledged; returns its eventId. */
  publish<N extends EventName>(name: N, body: EventBody<N>): string {
    this.#seq += 1;
    const payload = { ...body, eventId: `${this.machineId}-e${this.#seq}`, seq: this.#seq, ts: Date.now() };
    eventSchemas[name].parse(payload);
    const entry = { name, payload, sentAt: Date.now() };
    this.#unacked.set(payload.eventId, entry);
    if (this.#ready) this.#publishRaw(entry);
    return payload.eventId;
  }

  #publishRaw(entry: { name: EventName; payload: Record<string, unknown>; sentAt: number }): void {
    entry.sentAt = Date.now();
    this.#client.publish(this.#topics.event(entry.name), JSON.stringify(entry.payload), { qos: 1 }, () => undefined);
  }

  get unackedCount(): number {
    return this.#unacked.size;
  }

  received<N extends CommandName>(name: N): ReceivedCommand<N>[] {
    return this.commands.filter((command): command is ReceivedCommand<N> => command.name === name);
  }

  /** Resolves when `probe` returns a value (checked on every command or connect, and every 50 ms). */
  async waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 45_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = probe();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`${this.machineId}: timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.#waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, 50);
        this.#waiters.add(wake);
      });
    }
  }

  waitForCommand<N extends CommandName>(
    name: N,
    match: (command: ReceivedCommand<N>) => boolean = () => true,
    after = 0,
  ): Promise<ReceivedCommand<N>> {
    return this.waitFor(`cmd/${name}`, () => this.received(name).slice(after).find(match));
  }

  waitForAck(eventId: string): Promise<true> {
    return this.waitFor(`the ack of ${eventId}`, () => (this.acked.has(eventId) ? true : undefined));
  }

  waitReady(): Promise<true> {
    return this.waitFor("a connection", () => (this.#ready ? true : undefined));
  }

  #wake(): void {
    for (const wake of [...this.#waiters]) wake();
  }

  async close(): Promise<void> {
    clearInterval(this.#resendTimer);
    await this.#client.endAsync(true);
  }
}
