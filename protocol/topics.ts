/**
 * Topic layout of the MQTT contract v1 (design §5): `<root>/<machineId>/availability|state|cmd/<name>|event/<name>`.
 * Machine ids never contain `+`, `#` or `/` (config enforces it), so no user input can widen a subscription.
 */
export const defaultRootTopic = "vending/v1";

export interface MachineTopics {
  availability: string;
  state: string;
  command(name: string): string;
  event(name: string): string;
  /** Everything the agent subscribes to. */
  commandFilter: string;
  /** The machine's whole subtree, for ACLs. */
  subtree: string;
}

export function machineTopics(root: string, machineId: string): MachineTopics {
  const base = `${root}/${machineId}`;
  return {
    availability: `${base}/availability`,
    state: `${base}/state`,
    command: (name) => `${base}/cmd/${name}`,
    event: (name) => `${base}/event/${name}`,
    commandFilter: `${base}/cmd/+`,
    subtree: `${base}/#`,
  };
}

/** What a backend subscribes to for the whole fleet. */
export function fleetFilters(root: string) {
  return {
    availability: `${root}/+/availability`,
    state: `${root}/+/state`,
    events: `${root}/+/event/+`,
  };
}

export type ParsedTopic =
  | { machineId: string; kind: "availability" | "state" }
  | { machineId: string; kind: "cmd" | "event"; name: string };

export function parseTopic(root: string, topic: string): ParsedTopic | undefined {
  if (!topic.startsWith(`${root}/`)) return undefined;
  const parts = topic.slice(root.length + 1).split("/");
  const [machineId, kind, name] = parts;
  if (!machineId) return undefined;
  if (parts.length === 2 && (kind === "availability" || kind === "state")) return { machineId, kind };
  if (parts.length === 3 && (kind === "cmd" || kind === "event") && name) return { machineId, kind, name };
  return undefined;
}
