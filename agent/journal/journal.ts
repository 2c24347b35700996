import { randomUUID } from "node:crypto";
import { dirname, join } from "node:path";
import type { Clock } from "../../platform/clock.ts";
import type { Logger } from "../../platform/logger.ts";
import { type EventName, type EventPayload, eventSchemas } from "../../protocol/messages.ts";
import { type JournalFiles, nodeJournalFiles } from "./journal-files.ts";
import {
  applyRecord,
  type Change,
  emptyState,
  type JournalRecord,
  type JournalState,
  type StoredEvent,
  serializeState,
} from "./journal-state.ts";
import { RecordAppender, readRecordFile, replaceRecordFile } from "./record-file.ts";

/**
 * The agent's durable journal (design §6, money rule 4): every change that moves money, and every event, is on disk
 * (fdatasync) before the agent acts on it or publishes it. Recovery replays the records; compaction rewrites the file
 * as one snapshot record, atomically.
 *
 * Write points are named, so crash tests can stop the process right after each one (see crash-hook.ts).
 */
export const writePoints = [
  "boot",
  "payment-pending",
  "payment-cleared",
  "unlock",
  "vend-approved",
  "vend-result",
  "session-ended",
  "event",
  "ack",
  "compact-temp",
  "compact",
] as const;
export type WritePoint = (typeof writePoints)[number];

export interface JournalHooks {
  /** Called right after a write point is durable (and before the agent acts on it). */
  afterWrite?(point: WritePoint): void;
}

/** An event to write: the journal gives it eventId, seq and ts. */
export type EventDraft = {
  [N in EventName]: { name: N; body: Omit<EventPayload<N>, "eventId" | "seq" | "ts"> };
}[EventName];

export interface JournalOptions {
  dataDir: string;
  logger: Logger;
  clock: Clock;
  hooks?: JournalHooks | undefined;
  /** Rewrite the file as a snapshot once this many bytes were appended since the last one. */
  compactAfterBytes?: number;
  /** Remember a command id this long past its expiry (covers clock skew between bridge and agent). */
  seenCommandGraceMs?: number;
  /** Above this many unacknowledged events, drop the oldest ones that move no money (pong, command-rejected). */
  maxOutbox?: number;
  /** The file layer (node:fs by default; tests inject one that can lose power or fail writes). */
  files?: JournalFiles;
}

const volatileEvents: ReadonlySet<EventName> = new Set(["pong", "command-rejected"]);

export class Journal {
  readonly path: string;
  readonly #options: Required<Omit<JournalOptions, "hooks">> & { hooks: JournalHooks };
  #state: JournalState;
  #appender: RecordAppender | undefined;
  #tail: Promise<unknown> = Promise.resolve();
  #bytesSinceCompaction = 0;
  #closed = false;

  private constructor(options: JournalOptions, state: JournalState) {
    this.path = join(options.dataDir, "journal.log");
    this.#options = {
      compactAfterBytes: 1 << 20,
      seenCommandGraceMs: 10 * 60_000,
      maxOutbox: 5_000,
      files: nodeJournalFiles,
      ...options,
      hooks: options.hooks ?? {},
    };
    this.#state = state;
  }

  /** Opens (creating if needed) and recovers the journal in dataDir, then compacts it to one snapshot. */
  static async open(options: JournalOptions): Promise<Journal> {
    const files = options.files ?? nodeJournalFiles;
    // A data dir created now must itself survive a power cut: fsync its parent too.
    if (files.mkdir(options.dataDir, 0o700)) files.fsyncDirectory(dirname(options.dataDir));
    const path = join(options.dataDir, "journal.log");
    const read = readRecordFile(path, files);
    let state = emptyState();
    for (const record of read.records) state = applyRecord(state, record as JournalRecord);
    const log = options.logger.child({ module: "journal" });
    if (read.damage?.kind === "torn-tail") {
      log.warn({ offset: read.damage.offset, detail: read.damage.detail }, "dropped a torn last record (power cut)");
      files.truncate(path, read.validBytes);
    } else if (read.damage) {
      // Records after a corrupt one cannot be trusted in order; keep the file for a technician and go on with what
      // was read before the damage.
      const kept = `${path}.corrupt-${options.clock.now()}`;
      log.error({ offset: read.damage.offset, detail: read.damage.detail, kept }, "journal is corrupt after a record");
      files.rename(path, kept);
    }
    const journal = new Journal(options, state);
    journal.#compact();
    journal.#appender = await RecordAppender.open(path, files);
    log.info(
      {
        records: read.records.length,
        bootSeq: state.bootSeq,
        outbox: state.outbox.size,
        session: state.session?.sessionId ?? null,
      },
      "journal recovered",
    );
    return journal;
  }

  get state(): Readonly<JournalState> {
    return this.#state;
  }

  /**
   * Writes one record (a change, the events it produces and a command id to remember) and fsyncs it; resolves with
   * the finished events once they are durable. Commits are serialized, so seq numbers follow the file order.
   * A rejection means nothing was applied: the caller must not act.
   */
  commit(
    point: WritePoint,
    change: Change,
    extra: { events?: readonly EventDraft[]; seen?: { commandId: string; expiresAt: number } } = {},
  ): Promise<StoredEvent[]> {
    const run = this.#tail.then(() => this.#write(point, change, extra));
    this.#tail = run.catch(() => undefined);
    return run;
  }

  async #write(
    point: WritePoint,
    change: Change,
    extra: { events?: readonly EventDraft[]; seen?: { commandId: string; expiresAt: number } },
  ): Promise<StoredEvent[]> {
    if (this.#closed || !this.#appender) throw new Error("the journal is closed");
    const now = this.#options.clock.now();
    const events = (extra.events ?? []).map((draft, index) =>
      finishEvent(draft, this.#state.eventSeq + index + 1, now),
    );
    const record: JournalRecord = { c: change };
    if (events.length > 0) record.e = events;
    if (extra.seen) record.s = extra.seen;
    await this.#appender.append(record);
    this.#state = applyRecord(this.#state, record);
    this.#bytesSinceCompaction += 64 + JSON.stringify(record).length;
    this.#options.hooks.afterWrite?.(point);
    if (this.#bytesSinceCompaction >= this.#options.compactAfterBytes) {
      await this.#appender.close();
      this.#compact();
      this.#appender = await RecordAppender.open(this.path, this.#options.files);
    }
    return events;
  }

  /** Waits for pending commits; then closes the file. */
  async close(): Promise<void> {
    await this.#tail;
    this.#closed = true;
    await this.#appender?.close();
    this.#appender = undefined;
  }

  #compact(): void {
    const now = this.#options.clock.now();
    for (const [commandId, expiresAt] of this.#state.seenCommands) {
      if (expiresAt + this.#options.seenCommandGraceMs < now) this.#state.seenCommands.delete(commandId);
    }
    let excess = this.#state.outbox.size - this.#options.maxOutbox;
    for (const [eventId, event] of this.#state.outbox) {
      if (excess <= 0) break;
      if (volatileEvents.has(event.name)) {
        this.#state.outbox.delete(eventId);
        excess -= 1;
      }
    }
    const snapshot: JournalRecord = { c: { t: "snapshot", state: serializeState(this.#state) } };
    const files = this.#options.files;
    replaceRecordFile(this.path, [snapshot], () => this.#options.hooks.afterWrite?.("compact-temp"), files);
    files.fsyncDirectory(this.#options.dataDir);
    this.#bytesSinceCompaction = 0;
    this.#options.hooks.afterWrite?.("compact");
  }
}

function finishEvent(draft: EventDraft, seq: number, ts: number): StoredEvent {
  const payload = { eventId: randomUUID(), seq, ts, ...draft.body };
  // Our own events must match the contract; a mismatch is a bug here, caught before anything is written.
  const checked = eventSchemas[draft.name].parse(payload);
  return { name: draft.name, payload: checked } as StoredEvent;
}
