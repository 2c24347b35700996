import type {
  Availability,
  CommandName,
  CommandPayload,
  EventName,
  EventPayload,
  MachineState,
} from "../../protocol/messages.ts";

/**
 * The bridge's link to its machines over MQTT (embedded aedes or an external broker). The purchase orchestration
 * talks to machines only through this interface.
 */

export interface FleetEvent<N extends EventName = EventName> {
  machineId: string;
  name: N;
  payload: EventPayload<N>;
}

/**
 * Handler of one event. It resolves once the event is stored (or recognised as a duplicate); the link acknowledges it
 * to the agent (cmd/ack) once it is also durable: at once, or when `durable` resolves for an event stored with a
 * deferred commit (one that moves no money: its loss in a power cut only means the agent, never acknowledged, sends it
 * again). A rejection means "not stored": no ack, the agent resends it.
 */
// biome-ignore lint/suspicious/noConfusingVoidType: a handler that stores durably has nothing to say, and says nothing.
export type FleetEventHandler = (event: FleetEvent) => Promise<void | DeferredDurability>;

export interface DeferredDurability {
  durable: Promise<void>;
}

export type CommandBody<N extends CommandName> = Omit<
  CommandPayload<N>,
  "commandId" | "issuedAt" | "expiresAt" | "signature"
>;

export interface FleetLink {
  /** Connects (or starts the embedded broker) and subscribes to the fleet's events. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /**
   * Sends a command; fills commandId, issuedAt, expiresAt and the signature (every command is signed) with the machine's
   * key. Resolves with the commandId once the broker has accepted it (QoS 1).
   */
  send<N extends CommandName>(
    machineId: string,
    name: N,
    body: CommandBody<N>,
    options?: { ttlMs?: number; commandId?: string },
  ): Promise<string>;
  onEvent(handler: FleetEventHandler): void;
  isOnline(machineId: string): boolean;
  /**
   * Hears of availability changes: another boot, online/offline, and a reconnect of the same boot (a newer `online`),
   * after which the agent may have missed commands.
   */
  onAvailability(listener: (machineId: string, availability: Availability) => void): void;
  /**
   * Hears of the bridge's own link to the broker going up (connected and subscribed) and down: commands sent while it
   * was down, or lost with a restarted broker, are sent again when it is back. Optional for links without a broker.
   */
  onConnectionChange?(listener: (connected: boolean) => void): void;
  lastState(machineId: string): MachineState | undefined;
  /** Hears of each newer retained state of a machine (the catalog push resends once a busy machine is idle). */
  onState?(listener: (machineId: string, state: MachineState) => void): void;
  onlineCount(): number;
  /** Messages from machines refused as outside the contract since start (for /metrics). Optional for fakes. */
  invalidMessageCount?(): number;
}
