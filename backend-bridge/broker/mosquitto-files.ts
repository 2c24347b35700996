import { machineTopics } from "../../protocol/topics.ts";
import { needsRehash } from "./machine-secret.ts";

/**
 * The external Mosquitto's password file and ACL file, as pure functions of what the bridge knows (issue 17). Both are
 * written whole from the store every time, never edited in place: a file that is a function of the store cannot drift
 * from it, and a removed machine is gone from it by construction.
 *
 * The ACL gives the bridge's user its root topic and nothing else (no `$SYS`, no other root), and every other user the
 * machine's rights through `pattern` lines, where Mosquitto puts the user name for `%u`: four lines for the whole
 * fleet, the same rights as the embedded broker's access-control.ts (publish availability, state and events under its
 * own id; read its own commands). What Mosquitto's ACL cannot say (a retain rule per topic, a will's topic at CONNECT,
 * client id = user name) is listed in docs/external-mosquitto.md with what the bridge does about it.
 */

export interface MosquittoLogin {
  username: string;
  /** A `$7$` PBKDF2-SHA512 hash (machine-secret.ts), the format Mosquitto reads. */
  passwordHash: string;
}

/** A user name Mosquitto's files and `%u` substitution take as it is: no separator, space, wildcard or level. */
const safeUsername = /^[^\s:#+/]+$/;

export class MosquittoFileError extends Error {
  override name = "MosquittoFileError";
}

/** `user:$7$...` lines, sorted by user name, so that the same store always gives the same file (modulo salts). */
export function mosquittoPasswordFile(logins: readonly MosquittoLogin[]): string {
  const seen = new Set<string>();
  const lines: string[] = [];
  for (const login of [...logins].sort((a, b) => (a.username < b.username ? -1 : a.username > b.username ? 1 : 0))) {
    if (!safeUsername.test(login.username)) {
      throw new MosquittoFileError(`${JSON.stringify(login.username)} cannot be a Mosquitto user name`);
    }
    if (seen.has(login.username)) throw new MosquittoFileError(`user ${login.username} is listed twice`);
    if (needsRehash(login.passwordHash)) {
      throw new MosquittoFileError(`the hash of ${login.username} is not in Mosquitto's $7$ format`);
    }
    seen.add(login.username);
    lines.push(`${login.username}:${login.passwordHash}`);
  }
  return lines.map((line) => `${line}\n`).join("");
}

export function mosquittoAclFile(rootTopic: string, bridgeUsername: string): string {
  if (!safeUsername.test(bridgeUsername)) {
    throw new MosquittoFileError(`${JSON.stringify(bridgeUsername)} cannot be a Mosquitto user name`);
  }
  const machine = machineTopics(rootTopic, "%u");
  return [
    "# Written by `vend-bridge machines` from its store; edits here are lost at the next add, remove or export.",
    "# The bridge: its root topic only (no $SYS, no other root).",
    `user ${bridgeUsername}`,
    `topic readwrite ${rootTopic}/#`,
    "",
    "# Every machine (%u = its user name = its machine id): its availability, state and events, and its commands.",
    `pattern write ${machine.availability}`,
    `pattern write ${machine.state}`,
    `pattern write ${machine.event("+")}`,
    `pattern read ${machine.commandFilter}`,
    "",
  ].join("\n");
}
