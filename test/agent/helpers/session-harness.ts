import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { Journal } from "../../../agent/journal/journal.ts";
import type { JournalFiles } from "../../../agent/journal/journal-files.ts";
import type { StoredEvent } from "../../../agent/journal/journal-state.ts";
import { VendSession } from "../../../agent/session/vend-session.ts";
import { type Clock, systemClock } from "../../../platform/clock.ts";
import { createLogger, type Logger, silentLogger } from "../../../platform/logger.ts";
import type { Catalog } from "../../../protocol/catalog.ts";
import { FakeMechanism } from "./fake-mechanism.ts";

export const testCatalog: Catalog = {
  currency: "EUR",
  products: {
    A1: { name: "Water", sku: "WATER", priceMinor: 150, mdbItem: 11 },
    A2: { name: "Cola", sku: "COLA", priceMinor: 200, mdbItem: 12 },
    B1: { name: "Chocolate", sku: "CHOC", priceMinor: 120, mdbItem: 21 },
  },
};

export interface SessionTimings {
  selectionTimeoutMs?: number;
  paymentPendingTimeoutMs?: number;
  endScreenMs?: number;
}

export interface SessionHarness {
  dir: string;
  journal: Journal;
  mechanism: FakeMechanism;
  session: VendSession;
  events: StoredEvent[];
  named(name: StoredEvent["name"]): StoredEvent[];
  reopen(): Promise<SessionHarness>;
  close(): Promise<void>;
}

export async function openSessionHarness(
  options: {
    dir?: string;
    mode?: "single-vend" | "multi-vend";
    mechanism?: FakeMechanism;
    /** The journal's file layer (node:fs by default; a PowerLossFiles for power-cut tests). */
    files?: JournalFiles;
    /** The session's timings (defaults: a minute to choose, three to confirm the payment, the session's own end screen). */
    timings?: SessionTimings;
    /** The machine also sells selection first (MDB always idle). */
    chooseFirst?: "on-machine" | "on-screen";
    /** The session's logger (silent by default), for tests that read what the operator sees. */
    logger?: Logger;
    /** false: the hardware never reports itself started (the agent still waits for the mechanism). */
    hardwareStarted?: boolean;
    /** Called when the screen or the session changed (the agent republishes its retained state then). */
    onChange?: () => void;
    /** The journal's and the session's clock (the system clock by default); a ManualClock for timer tests. */
    clock?: Clock;
  } = {},
): Promise<SessionHarness> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "vend-session-"));
  const journal = await Journal.open({
    dataDir: dir,
    logger: silentLogger(),
    clock: options.clock ?? systemClock,
    ...(options.files ? { files: options.files } : {}),
  });
  const mechanism = options.mechanism ?? new FakeMechanism();
  const events: StoredEvent[] = [];
  const session = new VendSession({
    journal,
    mechanism,
    catalog: testCatalog,
    mode: options.mode ?? "single-vend",
    selectionTimeoutMs: 60_000,
    paymentPendingTimeoutMs: 180_000,
    ...options.timings,
    ...(options.chooseFirst ? { chooseFirst: options.chooseFirst } : {}),
    clock: options.clock ?? systemClock,
    logger: options.logger ?? silentLogger(),
    publish: (published) => events.push(...published),
    onChange: options.onChange ?? (() => undefined),
  });
  await mechanism.start();
  if (options.hardwareStarted !== false) session.hardwareStarted();
  const harness: SessionHarness = {
    dir,
    journal,
    mechanism,
    session,
    events,
    named: (name) => events.filter((event) => event.name === name),
    reopen: async () => {
      await journal.close();
      return openSessionHarness({
        dir,
        mode: options.mode ?? "single-vend",
        ...(options.files ? { files: options.files } : {}),
        ...(options.timings ? { timings: options.timings } : {}),
      });
    },
    close: async () => {
      await journal.close().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return harness;
}

let counter = 0;
export function envelope(now = Date.now(), ttlMs = 30_000) {
  counter += 1;
  return { commandId: `c-${process.pid}-${counter}-${now}`, issuedAt: now, expiresAt: now + ttlMs };
}

/** Waits until the predicate holds (polling), for the asynchronous steps of the session. */
export async function until(predicate: () => boolean, timeoutMs = 20_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Harnesses opened by a test file, closed together after each test. */
export function harnessPool() {
  const opened: SessionHarness[] = [];
  return {
    open: async (options: Parameters<typeof openSessionHarness>[0] = {}) => {
      const harness = await openSessionHarness(options);
      opened.push(harness);
      return harness;
    },
    closeAll: async () => {
      for (const harness of opened.splice(0)) await harness.close();
    },
  };
}

/** A logger that keeps each line as parsed JSON, to check what the operator reads in the journal. */
export function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split("\n")) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const logger = createLogger({ name: "vend-agent", level: "debug", destination, syslogPrefix: false });
  return { logger, lines, find: (msg: string) => lines.filter((line) => line.msg === msg) };
}
