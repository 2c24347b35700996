import {
  appendFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Journal, type WritePoint } from "../../agent/journal/journal.ts";
// Imported when the file loads, so that Stryker sees the command's name, summary and usage as static (set once at
// load): they are checked by the --help test below.
import { journalCommand } from "../../agent/journal/journal-command.ts";
import { applyRecord, emptyState, maxClosedSessions, serializeState } from "../../agent/journal/journal-state.ts";
import { frameRecord, parseRecords } from "../../agent/journal/record-file.ts";
import { systemClock } from "../../platform/clock.ts";
import { silentLogger } from "../../platform/logger.ts";
import { capturedLogs } from "../helpers/captured-logs.ts";
import { crashHookFromEnv } from "./helpers/crash-hook.ts";

const dirs: string[] = [];
function tempDir() {
  const dir = mkdtempSync(join(tmpdir(), "vend-journal-"));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const open = (dataDir: string, options: Partial<Parameters<typeof Journal.open>[0]> = {}) =>
  Journal.open({ dataDir, logger: silentLogger(), clock: systemClock, ...options });

const pong = (commandId: string) => ({ name: "pong" as const, body: { sessionId: null, commandId } });

describe("journal file framing", () => {
  it("reads back framed records and detects a torn last record and a corrupt middle one", () => {
    const a = frameRecord({ n: 1 });
    const b = frameRecord({ n: 2 });
    expect(parseRecords(Buffer.concat([a, b])).records).toEqual([{ n: 1 }, { n: 2 }]);
    const torn = parseRecords(Buffer.concat([a, b.subarray(0, b.length - 3)]));
    expect(torn.records).toEqual([{ n: 1 }]);
    expect(torn.damage?.kind).toBe("torn-tail");
    expect(torn.validBytes).toBe(a.length);
    const flipped = Buffer.from(b);
    flipped[12] = (flipped[12] ?? 0) ^ 0x01;
    expect(parseRecords(Buffer.concat([a, flipped])).damage?.kind).toBe("torn-tail");
    const corrupt = parseRecords(Buffer.concat([a, flipped, frameRecord({ n: 3 })]));
    expect(corrupt.records).toEqual([{ n: 1 }]);
    expect(corrupt.damage?.kind).toBe("corrupt");
  });
});

describe("journal", () => {
  it("keeps events, seq and seen commands across a reopen; acks remove events from the outbox", async () => {
    const dir = tempDir();
    const journal = await open(dir);
    const [first] = await journal.commit("event", { t: "note" }, { events: [pong("p1")] });
    const [second] = await journal.commit(
      "event",
      { t: "note" },
      {
        events: [pong("p2")],
        seen: { commandId: "c1", expiresAt: Date.now() + 60_000 },
      },
    );
    expect(first?.payload.seq).toBe(1);
    expect(second?.payload.seq).toBe(2);
    await journal.commit("ack", { t: "ack", eventIds: [first?.payload.eventId ?? ""] });
    await journal.close();

    const again = await open(dir);
    expect(again.state.eventSeq).toBe(2);
    expect([...again.state.outbox.keys()]).toEqual([second?.payload.eventId]);
    expect(again.state.seenCommands.has("c1")).toBe(true);
    const [third] = await again.commit("event", { t: "note" }, { events: [pong("p3")] });
    expect(third?.payload.seq).toBe(3);
    await again.close();
  });

  it("drops a torn last record after a power cut and goes on appending after the good ones", async () => {
    const dir = tempDir();
    const journal = await open(dir);
    await journal.commit("event", { t: "note" }, { events: [pong("p1")] });
    await journal.close();
    appendFileSync(join(dir, "journal.log"), '1234abcd {"c":{"t":"note"},"e":[{"na'); // the power cut
    const again = await open(dir);
    expect(again.state.eventSeq).toBe(1);
    await again.commit("event", { t: "note" }, { events: [pong("p2")] });
    await again.close();
    const third = await open(dir);
    expect(third.state.eventSeq).toBe(2);
    expect(third.state.outbox.size).toBe(2);
    await third.close();
  });

  it("keeps a corrupt journal aside for a technician and starts from the records before the damage", async () => {
    const dir = tempDir();
    const journal = await open(dir);
    await journal.commit("event", { t: "note" }, { events: [pong("p1")] });
    await journal.close();
    const path = join(dir, "journal.log");
    appendFileSync(path, `deadbeef {"c":{"t":"note"}}\n${frameRecord({ c: { t: "note" } }).toString()}`);
    const again = await open(dir);
    expect(again.state.eventSeq).toBe(1);
    expect(readdirSync(dir).some((name) => name.startsWith("journal.log.corrupt-"))).toBe(true);
    await again.close();
  });

  it("compacts into one snapshot (temp, fsync, rename) once the file grows, keeping the state", async () => {
    const dir = tempDir();
    const points: WritePoint[] = [];
    const journal = await open(dir, { compactAfterBytes: 4_000, hooks: { afterWrite: (point) => points.push(point) } });
    for (let index = 0; index < 60; index += 1) {
      await journal.commit("event", { t: "note" }, { events: [pong(`p${index}`)] });
    }
    expect(points.filter((point) => point === "compact").length).toBeGreaterThan(1);
    expect(points).toContain("compact-temp");
    expect(statSync(join(dir, "journal.log")).size).toBeLessThan(60 * 200);
    expect(existsSync(join(dir, "journal.log.tmp"))).toBe(false);
    await journal.close();
    const again = await open(dir);
    expect(again.state.eventSeq).toBe(60);
    expect(again.state.outbox.size).toBe(60);
    await again.close();
  });

  it("forgets a seen commandId at a compaction once it expired more than 10 minutes ago", async () => {
    const dir = tempDir();
    const now = 1_800_000_000_000;
    const clock = { ...systemClock, now: () => now };
    const journal = await open(dir, { clock });
    const grace = 10 * 60_000;
    for (const [commandId, expiresAt] of [
      ["c-long-gone", now - grace - 1],
      ["c-at-the-edge", now - grace],
      ["c-live", now + 1],
    ] as const) {
      await journal.commit("event", { t: "note" }, { seen: { commandId, expiresAt } });
    }
    await journal.close();
    // Opening compacts.
    const again = await open(dir, { clock });
    expect([...again.state.seenCommands.keys()].sort()).toEqual(["c-at-the-edge", "c-live"]);
    await again.close();
  });

  it("above maxOutbox unacknowledged events, a compaction drops the oldest pongs and rejections, never other events", async () => {
    const dir = tempDir();
    const journal = await open(dir, { maxOutbox: 3 });
    const started = {
      name: "vend-started" as const,
      body: { sessionId: "s1", vendId: "v1", selection: "A1", priceMinor: 150, currency: "EUR" },
    };
    await journal.commit("event", { t: "note" }, { events: [pong("p1")] });
    await journal.commit("event", { t: "note" }, { events: [started] });
    for (const id of ["p2", "p3", "p4"]) await journal.commit("event", { t: "note" }, { events: [pong(id)] });
    await journal.close();
    const again = await open(dir, { maxOutbox: 3 });
    const left = [...again.state.outbox.values()].map((event) =>
      event.name === "pong" ? (event.payload as { commandId: string }).commandId : event.name,
    );
    expect(left).toEqual(["vend-started", "p3", "p4"]);
    await again.close();
  });

  it("compacts only after about a megabyte by default, and at every open", async () => {
    const dir = tempDir();
    const points: WritePoint[] = [];
    const journal = await open(dir, { hooks: { afterWrite: (point) => points.push(point) } });
    for (let index = 0; index < 20; index += 1) {
      await journal.commit("event", { t: "note" }, { events: [pong(`p${index}`)] });
    }
    await journal.close();
    expect(points.filter((point) => point === "compact")).toHaveLength(1);
    expect(points.filter((point) => point === "event")).toHaveLength(20);
  });

  it("fsyncs the parent of a data directory it creates, so the directory itself survives a power cut", async () => {
    const { nodeJournalFiles } = await import("../../agent/journal/journal-files.ts");
    const synced: string[] = [];
    const files = {
      ...nodeJournalFiles,
      fsyncDirectory: (path: string) => {
        synced.push(path);
        nodeJournalFiles.fsyncDirectory(path);
      },
    };
    const parent = tempDir();
    const dataDir = join(parent, "data");
    const journal = await open(dataDir, { files });
    await journal.close();
    expect(synced[0]).toBe(parent);
    synced.length = 0;
    const again = await open(dataDir, { files });
    await again.close();
    expect(synced).not.toContain(parent);
    expect(synced).toContain(dataDir);
  });

  it("logs a recovery: a dropped torn record, a corrupt file kept aside, and what was recovered", async () => {
    const { logger, lines } = capturedLogs();
    const dir = tempDir();
    const journal = await open(dir);
    await journal.commit("event", { t: "note" }, { events: [pong("p1")] });
    await journal.close();
    const path = join(dir, "journal.log");
    const size = statSync(path).size;
    appendFileSync(path, "1234abcd {");
    await (await open(dir, { logger })).close();
    appendFileSync(path, `deadbeef {"c":{"t":"note"}}\n${frameRecord({ c: { t: "note" } }).toString()}`);
    await (await open(dir, { logger })).close();
    await new Promise((resolve) => setImmediate(resolve));
    const seen = lines
      .filter((line) => line.module === "journal")
      .map((line) => [line.level, line.msg, line.offset, line.records, line.bootSeq, line.outbox, line.session]);
    expect(seen).toEqual([
      // The snapshot written when the journal was first opened, and the record after it.
      ["warn", "dropped a torn last record (power cut)", size, undefined, undefined, undefined, undefined],
      ["info", "journal recovered", undefined, 2, 0, 1, null],
      // The snapshot written by that recovery; the corrupt record and the one after it are not read.
      ["error", "journal is corrupt after a record", expect.any(Number), undefined, undefined, undefined, undefined],
      ["info", "journal recovered", undefined, 1, 0, 1, null],
    ]);
  });

  it("refuses to act when the record cannot be written (nothing applied)", async () => {
    const dir = tempDir();
    const journal = await open(dir);
    await journal.close();
    await expect(journal.commit("event", { t: "note" }, { events: [pong("p1")] })).rejects.toThrow(/closed/);
    expect(journal.state.eventSeq).toBe(0);
  });

  it("refuses an event that does not match the contract before writing it", async () => {
    const dir = tempDir();
    const journal = await open(dir);
    await expect(
      journal.commit(
        "event",
        { t: "note" },
        { events: [{ name: "pong", body: { sessionId: null, commandId: "bad id!" } }] },
      ),
    ).rejects.toThrow();
    await journal.close();
    expect(readFileSync(join(dir, "journal.log"), "utf8")).not.toContain("bad id");
  });
});

describe("crash hook", () => {
  it("kills at the n-th write of the named point only, and refuses unknown points", () => {
    let killed = 0;
    const hook = crashHookFromEnv("vend-result:2", () => {
      killed += 1;
    });
    hook?.afterWrite?.("vend-approved");
    hook?.afterWrite?.("vend-result");
    expect(killed).toBe(0);
    hook?.afterWrite?.("vend-result");
    expect(killed).toBe(1);
    expect(crashHookFromEnv(undefined)).toBeUndefined();
    expect(() => crashHookFromEnv("nowhere")).toThrow(/not a write point/);
    expect(() => crashHookFromEnv("boot:0")).toThrow(/not a count/);
  });

  it("lives in the tests only: no production source reads VEND_AGENT_CRASH_AT or imports the hook", () => {
    const root = join(import.meta.dirname, "..", "..");
    const offenders: string[] = [];
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (entry.name.endsWith(".ts")) {
          const text = readFileSync(path, "utf8");
          if (text.includes("VEND_AGENT_CRASH_AT") || text.includes("crash-hook")) offenders.push(path);
        }
      }
    };
    for (const dir of ["agent", "backend-bridge", "config", "hardware", "platform", "protocol", "scripts"]) {
      walk(join(root, dir));
    }
    expect(offenders).toEqual([]);
  });
});

describe("corrupt snapshot file", () => {
  it("a garbage file is kept aside, not crashed on", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "journal.log"), "garbage\nmore garbage\n");
    const journal = await open(dir);
    expect(journal.state.eventSeq).toBe(0);
    await journal.close();
  });
});

describe("vend-agent journal (technician view)", () => {
  it("shows the session, the vend in flight and the unacknowledged events without changing the file", async () => {
    const { PassThrough } = await import("node:stream");
    const { createOutput } = await import("../../platform/terminal.ts");
    const dir = tempDir();
    const journal = await open(join(dir, "data"));
    await journal.commit("unlock", {
      t: "session-open",
      session: {
        sessionId: "s1",
        commandId: "c1",
        budgetMinor: 500,
        currency: "EUR",
        mode: "single-vend",
        openedAt: 1,
        spentMinor: 0,
        vendedCount: 0,
        vendedTotalMinor: 0,
        unknownCount: 0,
      },
    });
    await journal.commit(
      "vend-approved",
      {
        t: "vend-approved",
        vend: {
          vendId: "v1",
          sessionId: "s1",
          selection: "A1",
          sku: "W",
          name: "Water",
          priceMinor: 150,
          currency: "EUR",
          state: "in-flight",
          approvedAt: 2,
        },
      },
      {
        events: [
          {
            name: "vend-started",
            body: { sessionId: "s1", vendId: "v1", selection: "A1", priceMinor: 150, currency: "EUR" },
          },
        ],
      },
    );
    await journal.close();
    const before = readFileSync(join(dir, "data", "journal.log"));
    const configFile = join(dir, "agent.yaml");
    writeFileSync(
      configFile,
      JSON.stringify({
        machine: { id: "M1", merchantId: "acme" },
        commandKey: "aa".repeat(32),
        catalog: { currency: "EUR", products: { A1: { name: "Water", sku: "W", priceMinor: 150 } } },
        dataDir: join(dir, "data"),
      }),
    );
    const stdout = new PassThrough();
    let text = "";
    stdout.on("data", (chunk: Buffer) => {
      text += chunk.toString();
    });
    const out = createOutput(stdout, new PassThrough(), { NO_COLOR: "1" });
    const code = await journalCommand.run({
      program: "vend-agent",
      argv: ["--config", configFile, "--json"],
      out,
      env: {},
    });
    expect(code).toBe(0);
    const summary = JSON.parse(text) as {
      session: { sessionId: string };
      vendsInFlight: { vendId: string }[];
      unacknowledgedEvents: unknown[];
    };
    expect(summary.session.sessionId).toBe("s1");
    expect(summary.vendsInFlight.map((vend) => vend.vendId)).toEqual(["v1"]);
    expect(summary.unacknowledgedEvents).toHaveLength(1);

    // The same as text, for a person.
    text = "";
    expect(await journalCommand.run({ program: "vend-agent", argv: ["--config", configFile], out, env: {} })).toBe(0);
    const lines = text.trimEnd().split("\n");
    expect(lines[0]).toMatch(
      new RegExp(`^journal ${join(dir, "data", "journal.log")}: \\d+ records, boot #\\d+, last event seq 1$`),
    );
    expect(lines.slice(1, 4)).toEqual([
      "session: s1 budget 500 spent 0 EUR",
      "vend in flight: v1 A1 150 (becomes unknown at the next start)",
      "unacknowledged events: 1",
    ]);
    expect(lines[4]).toMatch(/^ {2}#1 vend-started \S+ \d{4}-\d\d-\d\dT/);
    expect(lines).toHaveLength(5);
    expect(readFileSync(join(dir, "data", "journal.log")).equals(before)).toBe(true);
  });

  /** Runs `vend-agent journal` (text output unless --json is given) on a data directory; out and error text. */
  async function technicianView(dataDir: string, argv: string[] = []) {
    const { PassThrough } = await import("node:stream");
    const { createOutput } = await import("../../platform/terminal.ts");
    const configFile = join(dataDir, "..", "agent.yaml");
    writeFileSync(
      configFile,
      JSON.stringify({
        machine: { id: "M1", merchantId: "acme" },
        commandKey: "aa".repeat(32),
        catalog: { currency: "EUR", products: { A1: { name: "Water", sku: "W", priceMinor: 150 } } },
        dataDir,
      }),
    );
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let text = "";
    let errors = "";
    stdout.on("data", (chunk: Buffer) => {
      text += chunk.toString();
    });
    stderr.on("data", (chunk: Buffer) => {
      errors += chunk.toString();
    });
    const out = createOutput(stdout, stderr, { NO_COLOR: "1" });
    const code = await journalCommand.run({
      program: "vend-agent",
      argv: ["--config", configFile, ...argv],
      out,
      env: {},
    });
    return { code, lines: text.trimEnd().split("\n"), errors };
  }

  it("shows no session, the pending payment, and only the first 20 of more unacknowledged events", async () => {
    const dataDir = join(tempDir(), "data");
    const journal = await open(dataDir);
    await journal.commit("payment-pending", {
      t: "payment-pending",
      pending: { sessionId: "s9", amountMinor: 700, currency: "EUR", since: 1 },
    });
    for (let index = 1; index <= 23; index++) {
      await journal.commit("event", { t: "note" }, { events: [pong(`p${index}`)] });
    }
    await journal.close();
    const { code, lines } = await technicianView(dataDir);
    expect(code).toBe(0);
    expect(lines.slice(1, 4)).toEqual(["session: none", "payment pending: s9 (700 EUR)", "unacknowledged events: 23"]);
    const listed = lines.slice(4);
    expect(listed).toHaveLength(20);
    expect(listed[0]).toMatch(/^ {2}#1 pong /);
    expect(listed[19]).toMatch(/^ {2}#20 pong /);
  });

  it("names the damage at the end of the file", async () => {
    const dataDir = join(tempDir(), "data");
    const journal = await open(dataDir);
    await journal.commit("event", { t: "note" }, { events: [pong("p1")] });
    await journal.close();
    const path = join(dataDir, "journal.log");
    const size = statSync(path).size;
    appendFileSync(path, "0000");
    const { code, lines } = await technicianView(dataDir);
    expect(code).toBe(0);
    expect(lines[1]).toBe(`damage at byte ${size}: torn-tail, last record has no end`);
  });

  it("says which file it cannot read, and fails", async () => {
    const { mkdirSync } = await import("node:fs");
    const dataDir = join(tempDir(), "data");
    // A directory where the journal file should be: reading it fails with EISDIR.
    mkdirSync(join(dataDir, "journal.log"), { recursive: true });
    const { code, lines, errors } = await technicianView(dataDir);
    expect(code).toBe(1);
    expect(lines).toEqual([""]);
    expect(errors).toMatch(new RegExp(`^cannot read ${join(dataDir, "journal.log")}: .*EISDIR`));
  });

  it("is listed by name with its summary, and --help prints its usage", async () => {
    const { PassThrough } = await import("node:stream");
    const { createOutput } = await import("../../platform/terminal.ts");
    const { runCli } = await import("../../platform/cli.ts");
    let text = "";
    const stdout = new PassThrough();
    stdout.on("data", (chunk: Buffer) => {
      text += chunk.toString();
    });
    const out = createOutput(stdout, new PassThrough(), { NO_COLOR: "1" });
    expect(await runCli("vend-agent", [journalCommand], ["journal", "--help"], { out, env: {} })).toBe(0);
    expect(text).toBe(
      "usage: vend-agent journal [--config FILE] [--json]\n\n" +
        "show the durable journal: session, vends in flight, unacknowledged events\n",
    );
  });

  it("remembers the last ended sessionIds, bounded, across a snapshot and across a reopen", async () => {
    let state = emptyState();
    for (let i = 0; i < maxClosedSessions + 5; i++)
      state = applyRecord(state, { c: { t: "session-end", sessionId: `s-${i}` } });
    state = applyRecord(state, { c: { t: "payment-cleared", sessionId: "p-last" } });
    expect(state.closedSessions.size).toBe(maxClosedSessions);
    expect(state.closedSessions.has("s-0")).toBe(false);
    expect(state.closedSessions.has("s-5")).toBe(false);
    expect(state.closedSessions.has("s-6")).toBe(true);
    expect(state.closedSessions.has("p-last")).toBe(true);
    const restored = applyRecord(emptyState(), { c: { t: "snapshot", state: serializeState(state) } });
    expect([...restored.closedSessions]).toEqual([...state.closedSessions]);
    // A snapshot written before the field existed still loads.
    const { closedSessions: _dropped, ...older } = serializeState(state);
    expect(applyRecord(emptyState(), { c: { t: "snapshot", state: older } }).closedSessions.size).toBe(0);

    const dir = tempDir();
    const journal = await open(dir);
    await journal.commit("session-ended", { t: "session-end", sessionId: "kept-1" });
    await journal.close();
    const reopened = await open(dir);
    expect(reopened.state.closedSessions.has("kept-1")).toBe(true);
    await reopened.close();
  });
});
