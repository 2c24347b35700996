import type {
  CommandBody,
  FleetEvent,
  FleetEventHandler,
  FleetLink,
} from "../../../backend-bridge/fleet/fleet-link.ts";
import type { Clock } from "../../../platform/clock.ts";
import type { Availability, CommandName, EventPayload, MachineState } from "../../../protocol/messages.ts";
import { type AgentCommand, type JournalEvent, ModelAgent } from "./model-agent.ts";

/**
 * The MQTT side of the model test: one machine (M1) with an honest agent, the agent's connection to the broker and
 * the bridge's own broker link, each of which can drop. Commands the bridge sends wait "in flight" until a step
 * delivers them (late, twice, or never: a machine that goes offline loses them, clean session); events wait in the
 * agent's journal until a step delivers them (in any order) and the bridge stores them (the acknowledgement).
 * Each bridge instance gets its own FleetLink view; a crashed instance's view hears nothing more.
 */

export const machineId = "M1";

export interface SentRecord extends AgentCommand {
  machineId: string;
  at: number;
  /** False when the send threw (the bridge's broker link was down). */
  ok: boolean;
}

export interface DeliveredEvent {
  name: string;
  payload: Record<string, unknown>;
  at: number;
  stored: boolean;
}

export class ModelFleet {
  readonly agent = new ModelAgent();
  readonly #clock: Clock;
  agentOnline = true;
  linkUp = true;
  /** What the bridge last heard (retained availability); unchanged while its own link is down. */
  bridgeSeesOnline = true;
  readonly inbox: AgentCommand[] = [];
  readonly sent: SentRecord[] = [];
  readonly delivered: DeliveredEvent[] = [];
  #live: FleetView | undefined;
  #commandSeq = 0;
  #availabilityTs = 0;
  /** The agent's availability changed (or it reconnected) while the bridge's link was down: a newer retained message. */
  #availabilityChanged = false;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** A new bridge instance's link; the previous one goes deaf. */
  view(): FleetView {
    this.#live?.kill();
    this.#live = new FleetView(this);
    return this.#live;
  }

  send(view: FleetView, machine: string, name: CommandName, body: Record<string, unknown>, ttlMs: number, id?: string) {
    const now = this.#clock.now();
    const commandId = id ?? `c${++this.#commandSeq}`;
    const command: AgentCommand = { name, body, commandId, issuedAt: now, expiresAt: now + ttlMs };
    const ok = this.linkUp && !view.dead;
    this.sent.push({ ...command, machineId: machine, at: now, ok });
    if (!ok) throw new Error("broker unavailable");
    if (machine === machineId && this.agentOnline) this.inbox.push(command);
    return commandId;
  }

  #announce(): void {
    if (!this.linkUp) {
      this.#availabilityChanged = true;
      return;
    }
    this.#availabilityChanged = false;
    this.bridgeSeesOnline = this.agentOnline;
    const availability: Availability = {
      state: this.agentOnline ? "online" : "offline",
      bootId: "boot1",
      bootSeq: 1,
      ts: this.#clock.now() + ++this.#availabilityTs,
    };
    this.#live?.availability(machineId, availability);
  }

  setAgentOnline(online: boolean): void {
    if (this.agentOnline === online) return;
    this.agentOnline = online;
    // Clean session: whatever was on its way to the machine is gone with the connection.
    if (!online) this.inbox.length = 0;
    this.#announce();
  }

  /**
   * The bridge's own broker link (a cut proxy). On the way back it re-reads the retained availability, which is news
   * only if the agent's changed meanwhile (a same-boot reconnect has a newer ts, per the contract).
   */
  setLink(up: boolean): void {
    if (this.linkUp === up) return;
    this.linkUp = up;
    this.#live?.connection(up);
    if (up && this.#availabilityChanged) this.#announce();
  }

  /** The broker restarts: the bridge's link drops, and so does the agent's, losing what was in flight to it. */
  restartBroker(): void {
    this.setLink(false);
    this.inbox.length = 0;
    // The agent reconnects as soon as the broker is back and publishes `online` again (same boot, newer ts).
    if (this.agentOnline) this.#availabilityChanged = true;
  }

  deliverCommand(index: number, keep: boolean): boolean {
    const command = this.inbox[index];
    if (!command || !this.agentOnline) return false;
    if (!keep) this.inbox.splice(index, 1);
    this.agent.receive(command, this.#clock.now());
    return true;
  }

  /** Hands one journal event to the bridge; the agent drops it from its journal once stored (unless the ack is lost). */
  deliverEvent(index: number, lostAck: boolean): Promise<void> | undefined {
    const event = this.agent.journal[index];
    const view = this.#live;
    if (!event || !this.agentOnline || !this.linkUp || !view) return undefined;
    const record: DeliveredEvent = { name: event.name, payload: event.payload, at: this.#clock.now(), stored: false };
    this.delivered.push(record);
    return view.deliver(event).then(
      () => {
        record.stored = true;
        if (!lostAck) this.agent.acknowledge(event);
      },
      () => undefined,
    );
  }
}

export class FleetView implements FleetLink {
  readonly #net: ModelFleet;
  #handler: FleetEventHandler | undefined;
  readonly #availability: ((machineId: string, availability: Availability) => void)[] = [];
  readonly #connection: ((connected: boolean) => void)[] = [];
  dead = false;

  constructor(net: ModelFleet) {
    this.#net = net;
  }

  kill(): void {
    this.dead = true;
  }

  async start(): Promise<void> {}
  async stop(): Promise<void> {}

  async send<N extends CommandName>(
    machine: string,
    name: N,
    body: CommandBody<N>,
    options?: { ttlMs?: number; commandId?: string },
  ): Promise<string> {
    await Promise.resolve();
    return this.#net.send(
      this,
      machine,
      name,
      body as Record<string, unknown>,
      options?.ttlMs ?? 30_000,
      options?.commandId,
    );
  }

  onEvent(handler: FleetEventHandler): void {
    this.#handler = handler;
  }

  onAvailability(listener: (machineId: string, availability: Availability) => void): void {
    this.#availability.push(listener);
  }

  /** The bridge's own broker link went down or came back (contract addition for resends on reconnect). */
  onConnectionChange(listener: (connected: boolean) => void): void {
    this.#connection.push(listener);
  }

  isOnline(machine: string): boolean {
    return machine === machineId && this.#net.bridgeSeesOnline;
  }

  lastState(_machine: string): MachineState | undefined {
    return undefined;
  }

  onlineCount(): number {
    return this.#net.bridgeSeesOnline ? 1 : 0;
  }

  availability(machine: string, availability: Availability): void {
    if (this.dead) return;
    for (const listener of this.#availability) listener(machine, availability);
  }

  connection(connected: boolean): void {
    if (this.dead) return;
    for (const listener of this.#connection) listener(connected);
  }

  deliver(event: JournalEvent): Promise<void> {
    if (this.dead || !this.#handler) return Promise.reject(new Error("no live bridge"));
    const fleetEvent = {
      machineId,
      name: event.name,
      payload: event.payload as unknown as EventPayload<"fault">,
    } as FleetEvent;
    // Stored is acknowledged here: the model's bridge dies but its disk never loses power.
    return this.#handler(fleetEvent).then(() => undefined);
  }
}
