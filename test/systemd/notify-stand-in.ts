import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A stand-in for systemd's notify socket: a unix datagram socket bound in a temp dir with the same unix-dgram module
 * the programs use to send. Each datagram is one notify message of KEY=value lines; `received` keeps them with the
 * time they arrived so tests can reason about watchdog intervals.
 */

interface BoundSocket {
  on(event: "message", listener: (buffer: Buffer) => void): unknown;
  on(event: "error", listener: (error: Error) => void): unknown;
  bind(path: string): void;
  close(): void;
}

export interface NotifyMessage {
  at: number;
  fields: Record<string, string>;
}

export interface NotifyStandIn {
  readonly path: string;
  readonly received: NotifyMessage[];
  /** Resolves with the first message (already received or future) that has `key` (and `value` when given). */
  waitFor(key: string, value?: string, timeoutMs?: number): Promise<NotifyMessage>;
  count(key: string, since?: number): number;
  /** Resolves once `count` messages with `key` arrived at or after `since`; rejects after `timeoutMs`. */
  waitForCount(key: string, count: number, since: number, timeoutMs?: number): Promise<void>;
  /**
   * Resolves with the latest message carrying `key` once it matches (a service under load may flap before it settles;
   * the latest word is the one that counts); rejects after `timeoutMs`.
   */
  waitForLatest(key: string, match: (value: string) => boolean, timeoutMs?: number): Promise<NotifyMessage>;
  latest(key: string): NotifyMessage | undefined;
  /** The messages with `key` that arrived after `message` (by arrival order, not by time). */
  after(message: NotifyMessage, key: string): NotifyMessage[];
  close(): void;
}

const require = createRequire(import.meta.url);

export function openNotifyStandIn(): NotifyStandIn {
  const unix = require("unix-dgram") as { createSocket(type: "unix_dgram"): BoundSocket };
  const dir = mkdtempSync(join(tmpdir(), "notify-"));
  const path = join(dir, "notify.sock");
  const received: NotifyMessage[] = [];
  const waiters: Array<{ match: (message: NotifyMessage) => boolean; resolve: (message: NotifyMessage) => void }> = [];
  const socket = unix.createSocket("unix_dgram");
  socket.on("error", () => {});
  socket.on("message", (buffer) => {
    const fields: Record<string, string> = {};
    for (const line of buffer.toString("utf8").split("\n")) {
      const at = line.indexOf("=");
      if (at > 0) fields[line.slice(0, at)] = line.slice(at + 1);
    }
    const message = { at: Date.now(), fields };
    received.push(message);
    for (const waiter of [...waiters]) {
      if (waiter.match(message)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(message);
      }
    }
  });
  socket.bind(path);
  return {
    path,
    received,
    waitFor(key, value, timeoutMs = 10_000) {
      const match = (message: NotifyMessage) =>
        key in message.fields && (value === undefined || message.fields[key] === value);
      const found = received.find(match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no ${key}${value ? `=${value}` : ""} within ${timeoutMs} ms`)),
          timeoutMs,
        );
        waiters.push({
          match,
          resolve: (message) => {
            clearTimeout(timer);
            resolve(message);
          },
        });
      });
    },
    count(key, since = 0) {
      return received.filter((message) => key in message.fields && message.at >= since).length;
    },
    async waitForCount(key, count, since, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (this.count(key, since) < count) {
        if (Date.now() > deadline) throw new Error(`fewer than ${count} ${key} messages within ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    },
    latest(key) {
      return received.findLast((message) => key in message.fields);
    },
    async waitForLatest(key, match, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = this.latest(key);
        if (found && match(found.fields[key] ?? "")) return found;
        if (Date.now() > deadline) throw new Error(`no matching notify message within ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    },
    after(message, key) {
      return received.slice(received.indexOf(message) + 1).filter((later) => key in later.fields);
    },
    close() {
      socket.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
