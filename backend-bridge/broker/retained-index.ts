/**
 * The embedded broker's retained messages, kept in a tree of topic levels so that a subscription reads only the
 * messages it matches. aedes-persistence's memory store tests every retained topic against every new subscription's
 * filter: each machine that logs in subscribes to its own `cmd/+`, and with 5,000 machines each retaining an
 * availability and a state, a reconnect storm spent 37 % of the bridge's CPU splitting topics (a profile of
 * bench/reconnect-storm.ts), 50 million of them for 5,000 logins. Here a filter walks the tree: literal levels are
 * looked up, `+` visits each child, `#` takes the subtree.
 *
 * Matching is MQTT's as the memory store did it: `+` is exactly one level (an empty one too), `#` is the level it
 * stands at and all below (`a/#` matches `a`).
 */

export interface RetainedPacket {
  topic: string;
  payload: Buffer | string;
}

interface Level<P> {
  packet: P | undefined;
  readonly children: Map<string, Level<P>>;
}

const newLevel = <P>(): Level<P> => ({ packet: undefined, children: new Map() });

export class RetainedIndex<P extends RetainedPacket> {
  readonly #root: Level<P> = newLevel();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /** Keeps a copy of the packet as the topic's retained message; an empty payload deletes it. */
  store(packet: P): void {
    const levels = packet.topic.split("/");
    if (packet.payload.length === 0) {
      this.#delete(this.#root, levels, 0);
      return;
    }
    let level = this.#root;
    for (const name of levels) {
      let child = level.children.get(name);
      if (!child) {
        child = newLevel();
        level.children.set(name, child);
      }
      level = child;
    }
    if (level.packet === undefined) this.#size++;
    level.packet = { ...packet };
  }

  /** The retained messages a subscription to `filter` receives. */
  *matching(filter: string): Generator<P> {
    yield* this.#walk(this.#root, filter.split("/"), 0);
  }

  *#walk(level: Level<P>, filter: string[], at: number): Generator<P> {
    if (at === filter.length) {
      if (level.packet !== undefined) yield level.packet;
      return;
    }
    const name = filter[at] as string;
    if (name === "#") {
      yield* this.#subtree(level);
      return;
    }
    if (name === "+") {
      for (const child of level.children.values()) yield* this.#walk(child, filter, at + 1);
      return;
    }
    const child = level.children.get(name);
    if (child) yield* this.#walk(child, filter, at + 1);
  }

  *#subtree(level: Level<P>): Generator<P> {
    if (level.packet !== undefined) yield level.packet;
    for (const child of level.children.values()) yield* this.#subtree(child);
  }

  /** Removes the topic's message and the levels left empty behind it (a decommissioned machine leaves nothing). */
  #delete(level: Level<P>, levels: string[], at: number): void {
    if (at === levels.length) {
      if (level.packet !== undefined) this.#size--;
      level.packet = undefined;
      return;
    }
    const name = levels[at] as string;
    const child = level.children.get(name);
    if (!child) return;
    this.#delete(child, levels, at + 1);
    if (child.packet === undefined && child.children.size === 0) level.children.delete(name);
  }
}
