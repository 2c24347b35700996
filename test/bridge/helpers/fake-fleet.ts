import type {
  CommandBody,
  FleetEvent,
  FleetEventHandler,
  FleetLink,
} from "../../../backend-bridge/fleet/fleet-link.ts";
import type { Availability, CommandName, EventName, EventPayload, MachineState } from "../../../protocol/messages.ts";

/** A FleetLink without MQTT: machines are online when the test says so, commands are recorded, events are injected. */
export interface SentCommand {
  machineId: string;
  name: CommandName;
  body: Record<string, unknown>;
  commandId: string;
  /** The command's lifetime as asked for (the link turns it into the envelope's expiresAt). */
  ttlMs?: number;
}

export class FakeFleet implements FleetLink {
  readonly sent: SentCommand[] = [];
  readonly online = new Set<string>();
  readonly states = new Map<string, MachineState>();
  #handler: FleetEventHandler | undefined;
  #availability: ((machineId: string, availability: Availability) => void)[] = [];
  #seq = 0;
  failSends = false;
  /** Called after each command is recorded (an automatic agent for benchmarks). */
  onCommand: ((command: SentCommand) => void) | undefined;

  async start(): Promise<void> {}
  async stop(): Promise<void> {}

  async send<N extends CommandName>(
    machineId: string,
    name: N,
    body: CommandBody<N>,
    options?: { ttlMs?: number; commandId?: string },
  ): Promise<string> {
    if (this.failSends) throw new Error("broker unavailable");
    const commandId = options?.commandId ?? `c${++this.#seq}`;
    const command: SentCommand = {
      machineId,
      name,
      body: body as Record<string, unknown>,
      commandId,
      ...(options?.ttlMs === undefined ? {} : { ttlMs: options.ttlMs }),
    };
    this.sent.push(command);
    this.onCommand?.(command);
    return commandId;
  }

  onEvent(handler: FleetEventHandler): void {
    this.#handler = handler;
  }

  isOnline(machineId: string): boolean {
    return this.online.has(machineId);
  }

  onAvailability(listener: (machineId: string, availability: Availability) => void): void {
    this.#availability.push(listener);
  }

  lastState(machineId: string): MachineState | undefined {
    return this.states.get(machineId);
  }

  #stateListeners: ((machineId: string, state: MachineState) => void)[] = [];

  onState(listener: (machineId: string, state: MachineState) => void): void {
    this.#stateListeners.push(listener);
  }

  /** A retained state arrives, as the MQTT link delivers it: stored for lastState() and heard by the listeners. */
  setState(machineId: string, state: MachineState): void {
    this.states.set(machineId, state);
    for (const listener of this.#stateListeners) listener(machineId, state);
  }

  onlineCount(): number {
    return this.online.size;
  }

  /** What invalidMessageCount() reports (the real link counts refused messages). */
  invalidMessages = 0;

  invalidMessageCount(): number {
    return this.invalidMessages;
  }

  setOnline(machineId: string, online = true): void {
    if (online) this.online.add(machineId);
    else this.online.delete(machineId);
    for (const listener of this.#availability) {
      listener(machineId, { state: online ? "online" : "offline", bootId: "boot1", bootSeq: 1, ts: Date.now() });
    }
  }

  commands(name: CommandName, machineId?: string): SentCommand[] {
    return this.sent.filter(
      (command) => command.name === name && (machineId === undefined || command.machineId === machineId),
    );
  }

  /** Delivers an event as the MQTT link would; resolves when the bridge stored it, rejects when it did not. */
  emit<N extends EventName>(
    machineId: string,
    name: N,
    fields: Omit<EventPayload<N>, "eventId" | "seq" | "ts"> & { eventId?: string },
  ): Promise<void> {
    return this.#stored(this.#event(machineId, name, fields));
  }

  /** Delivers an event and resolves with what the handler answered (a deferred commit's durability, or nothing). */
  handled<N extends EventName>(
    machineId: string,
    name: N,
    fields: Omit<EventPayload<N>, "eventId" | "seq" | "ts">,
  ): ReturnType<FleetEventHandler> {
    if (!this.#handler) throw new Error("no event handler registered");
    return this.#handler(this.#event(machineId, name, fields));
  }

  #event<N extends EventName>(
    machineId: string,
    name: N,
    fields: Omit<EventPayload<N>, "eventId" | "seq" | "ts"> & { eventId?: string },
  ): FleetEvent {
    const seq = ++this.#seq;
    const payload = { eventId: `e${seq}-${Math.random().toString(36).slice(2, 8)}`, seq, ts: Date.now(), ...fields };
    return { machineId, name, payload: payload as unknown as EventPayload<N> } as FleetEvent;
  }

  /** Delivers exactly this event again (same eventId), as a QoS 1 redelivery would. */
  redeliver(event: FleetEvent): Promise<void> {
    return this.#stored(event);
  }

  /** Resolves once the bridge stored the event (a deferred commit's durability is the MQTT link's concern). */
  async #stored(event: FleetEvent): Promise<void> {
    if (!this.#handler) throw new Error("no event handler registered");
    await this.#handler(event);
  }
}

/** A machine's retained state, idle (or in `session`), selling with the catalog of `catalogHash` if given. */
export function machineStateWith(
  catalogHash: string | undefined,
  session: MachineState["session"] = null,
): MachineState {
  return {
    screen: session ? "dispensing" : "idle",
    session,
    hardware: { driver: "fake", link: "up" },
    lastFault: null,
    ...(catalogHash ? { catalogHash } : {}),
    versions: { agent: "test", contract: 1 },
    ts: Date.now(),
  };
}
