import { randomUUID } from "node:crypto";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import type { Availability, EventName, EventPayload } from "../../protocol/messages.ts";
import { type MachineTopics, machineTopics } from "../../protocol/topics.ts";

/** A minimal stand-in for the agent, speaking the contract by hand: what the bridge sees of a machine. */
export class FakeAgent {
  readonly topics: MachineTopics;
  readonly commands: { name: string; payload: Record<string, unknown> }[] = [];
  readonly client: MqttClient;
  #seq = 0;

  private constructor(client: MqttClient, topics: MachineTopics) {
    this.client = client;
    this.topics = topics;
    client.on("message", (topic, payload) => {
      const name = topic.slice(topics.command("").length);
      this.commands.push({ name, payload: JSON.parse(payload.toString()) as Record<string, unknown> });
    });
  }

  static async connect(url: string, root: string, machineId: string, options: IClientOptions = {}): Promise<FakeAgent> {
    const topics = machineTopics(root, machineId);
    const client = await mqtt.connectAsync(url, {
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 100,
      clientId: machineId,
      ...options,
    });
    client.on("connect", () => {
      client.subscribe(topics.commandFilter, { qos: 1 });
    });
    await client.subscribeAsync(topics.commandFilter, { qos: 1 });
    return new FakeAgent(client, topics);
  }

  availability(availability: Availability): Promise<unknown> {
    return this.client.publishAsync(this.topics.availability, JSON.stringify(availability), { qos: 1, retain: true });
  }

  raw(topic: string, payload: string, retain = false): Promise<unknown> {
    return this.client.publishAsync(topic, payload, { qos: 1, retain });
  }

  event<N extends EventName>(name: N, payload: EventPayload<N>): Promise<unknown> {
    return this.client.publishAsync(this.topics.event(name), JSON.stringify(payload), { qos: 1 });
  }

  /** A valid `pong` event with a fresh eventId (or the given one, to resend). */
  pong(eventId = randomUUID()): EventPayload<"pong"> {
    return { eventId, seq: this.#seq++, ts: Date.now(), sessionId: null, commandId: "c-1" };
  }

  acks(): string[][] {
    return this.commands
      .filter((command) => command.name === "ack")
      .map((command) => command.payload.eventIds as string[]);
  }

  async clearRetained(): Promise<void> {
    await this.client.publishAsync(this.topics.availability, "", { qos: 1, retain: true });
    await this.client.publishAsync(this.topics.state, "", { qos: 1, retain: true });
  }

  close(): Promise<void> {
    return this.client.endAsync(true);
  }
}
