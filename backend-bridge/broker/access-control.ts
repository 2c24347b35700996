import { machineTopics, parseTopic } from "../../protocol/topics.ts";

/**
 * The ACL of the embedded broker, as pure functions of (root topic, identity, topic). A machine lives in its own
 * subtree: it publishes its availability, its state and its events, and subscribes to its own commands, nothing else.
 * The bridge's own user may do everything except impersonate the broker (`$SYS/`).
 */

export type BrokerIdentity = { kind: "bridge"; username: string } | { kind: "machine"; machineId: string };

export type AccessDecision = { ok: true } | { ok: false; reason: string };

const allowed: AccessDecision = { ok: true };
const denied = (reason: string): AccessDecision => ({ ok: false, reason });

export function isSysTopic(topic: string): boolean {
  return topic.startsWith("$SYS/") || topic === "$SYS";
}

export function authorizePublishTopic(
  root: string,
  identity: BrokerIdentity,
  topic: string,
  retain: boolean,
): AccessDecision {
  if (isSysTopic(topic)) return denied("$SYS/ topics are reserved to the broker");
  if (identity.kind === "bridge") return allowed;
  const parsed = parseTopic(root, topic);
  if (!parsed || parsed.machineId !== identity.machineId) {
    return denied(`machine ${identity.machineId} may publish only under ${root}/${identity.machineId}/`);
  }
  switch (parsed.kind) {
    case "availability":
    case "state":
      return allowed;
    case "event":
      // A retained event would be replayed to every new subscriber as if it had just happened.
      return retain ? denied("events must not be retained") : allowed;
    case "cmd":
      return denied("machines do not publish commands");
  }
}

export function authorizeSubscribeFilter(root: string, identity: BrokerIdentity, filter: string): AccessDecision {
  if (identity.kind === "bridge") return allowed;
  const own = machineTopics(root, identity.machineId);
  const prefix = own.command("");
  if (filter === own.commandFilter) return allowed;
  // One named command: a single level with no wildcard.
  if (filter.startsWith(prefix) && /^[^/+#]+$/.test(filter.slice(prefix.length))) return allowed;
  return denied(`machine ${identity.machineId} may subscribe only to ${own.commandFilter}`);
}

/** A machine's last will must be its own availability topic (the LWT that says "offline"). */
export function authorizeWill(root: string, identity: BrokerIdentity, willTopic: string | undefined): AccessDecision {
  if (willTopic === undefined || identity.kind === "bridge") return allowed;
  if (willTopic === machineTopics(root, identity.machineId).availability) return allowed;
  return denied(`machine ${identity.machineId} may set a will only on its own availability topic`);
}
