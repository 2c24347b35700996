/**
 * The machines of bench/purchase-cost.ts: real MQTT clients with their own credentials (bench/fleet-sim.ts), each of
 * which answers `unlock` at once with `unlocked`, one `vended` and `session-ended`, valid under protocol/messages.ts,
 * and `ping` with `pong`. The load generator learns when a machine received its unlock (process.hrtime in ns, the
 * clock every process of the machine shares) by waiting on the machine's id: a machine has one purchase at a time.
 */
import { randomUUID } from "node:crypto";
import type { MqttClient } from "mqtt";
import { type EventName, type EventPayload, eventSchemas } from "../protocol/messages.ts";
import { machineTopics, parseTopic } from "../protocol/topics.ts";
import { connectUntilAccepted, type Machine, stopMachines } from "./fleet-sim.ts";

export const vendedProduct = { selection: "A1", sku: "W-05", name: "Water", priceMinor: 150, currency: "EUR" };

export class PurchaseMachines {
  readonly #clients: MqttClient[] = [];
  readonly #seq = new Map<string, number>();
  readonly #unlockWaiters = new Map<string, (at: bigint) => void>();
  /** Each event is checked against its schema once, so that a change of the contract fails the bench, not the bridge. */
  readonly #checked = new Set<EventName>();
  readonly #rootTopic: string;

  constructor(rootTopic: string) {
    this.#rootTopic = rootTopic;
  }

  /** Connects every machine to the broker at `url` (a second call adds another broker's connections). */
  async connect(url: string, machines: Machine[]): Promise<void> {
    await Promise.all(
      machines.map((machine) =>
        connectUntilAccepted(url, this.#rootTopic, machine, this.#clients, (client) =>
          client.on("message", (topic, payload) => this.#onCommand(client, topic, payload)),
        ),
      ),
    );
  }

  /** Resolves with the time the machine receives its next unlock. */
  unlockReceived(machineId: string): Promise<bigint> {
    return new Promise((resolve) => this.#unlockWaiters.set(machineId, resolve));
  }

  /** Forgets a wait whose purchase failed before its unlock. */
  forget(machineId: string): void {
    this.#unlockWaiters.delete(machineId);
  }

  stop(): Promise<unknown> {
    return stopMachines(this.#clients);
  }

  #onCommand(client: MqttClient, topic: string, payload: Buffer): void {
    const at = process.hrtime.bigint();
    const parsed = parseTopic(this.#rootTopic, topic);
    if (parsed?.kind !== "cmd") return;
    const { machineId, name } = parsed;
    const command = JSON.parse(payload.toString()) as Record<string, unknown>;
    if (name === "ping") {
      this.#send(client, machineId, "pong", {
        sessionId: null,
        commandId: command.commandId as string,
        inService: true,
      });
      return;
    }
    if (name !== "unlock") return;
    const wake = this.#unlockWaiters.get(machineId);
    this.#unlockWaiters.delete(machineId);
    wake?.(at);
    const sessionId = command.sessionId as string;
    const { currency } = vendedProduct;
    this.#send(client, machineId, "unlocked", {
      sessionId,
      commandId: command.commandId as string,
      budgetMinor: command.budgetMinor as number,
      currency,
    });
    this.#send(client, machineId, "vended", {
      sessionId,
      vendId: randomUUID(),
      ...vendedProduct,
      evidence: "vend-success",
    });
    this.#send(client, machineId, "session-ended", {
      sessionId,
      reason: "single-vend-done",
      vendedCount: 1,
      vendedTotalMinor: vendedProduct.priceMinor,
      unknownCount: 0,
      currency,
    });
  }

  #send<N extends EventName>(
    client: MqttClient,
    machineId: string,
    name: N,
    body: Omit<EventPayload<N>, "eventId" | "seq" | "ts">,
  ): void {
    const seq = (this.#seq.get(machineId) ?? 0) + 1;
    this.#seq.set(machineId, seq);
    const event = { eventId: randomUUID(), seq, ts: Date.now(), ...body };
    if (!this.#checked.has(name)) {
      eventSchemas[name].parse(event);
      this.#checked.add(name);
    }
    client.publish(machineTopics(this.#rootTopic, machineId).event(name), JSON.stringify(event), { qos: 1 });
  }
}
