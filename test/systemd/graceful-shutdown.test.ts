import { EventEmitter } from "node:events";
import { PassThrough } from "node:stream";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ExitCode, type ExitCodeValue } from "../../platform/exit-codes.ts";
import { installGracefulShutdown } from "../../platform/graceful-shutdown.ts";
import { createLogger, isJournalStream, silentLogger, syslogPriority } from "../../platform/logger.ts";
import type { SdNotifier } from "../../platform/sd-notify.ts";

function fakeNotifier() {
  const sent: string[] = [];
  const notifier: SdNotifier = {
    active: true,
    watchdogMs: undefined,
    notify: () => true,
    ready: () => true,
    status: () => true,
    watchdogPing: () => true,
    stopping: (status) => {
      sent.push(`STOPPING ${status}`);
      return true;
    },
    close: () => {},
  };
  return { notifier, sent };
}

describe("graceful shutdown", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("on SIGTERM says STOPPING, runs stop() once, and exits 0", async () => {
    const signals = new EventEmitter();
    const { notifier, sent } = fakeNotifier();
    const exits: ExitCodeValue[] = [];
    const stop = vi.fn(async () => {});
    const shutdown = installGracefulShutdown({
      logger: silentLogger(),
      notifier,
      stop,
      hardExitMs: 1_000,
      exit: (code) => exits.push(code),
      source: signals,
    });
    signals.emit("SIGTERM", "SIGTERM");
    signals.emit("SIGINT", "SIGINT"); // a second signal does not run stop() again
    expect(await shutdown.shutdown("again")).toBe(ExitCode.ok);
    expect(stop).toHaveBeenCalledTimes(1);
    expect(stop).toHaveBeenCalledWith("SIGTERM");
    expect(sent).toEqual(["STOPPING stopping (SIGTERM)"]);
    expect(exits).toEqual([ExitCode.ok]);
    shutdown.dispose();
    expect(signals.listenerCount("SIGTERM")).toBe(0);
  });

  it("exits by itself when stop() hangs past the hard-exit timer (before systemd's SIGKILL)", async () => {
    vi.useFakeTimers();
    const signals = new EventEmitter();
    const exits: ExitCodeValue[] = [];
    const shutdown = installGracefulShutdown({
      logger: silentLogger(),
      stop: () => new Promise(() => {}),
      hardExitMs: 25_000,
      exit: (code) => exits.push(code),
      source: signals,
    });
    const done = shutdown.shutdown("SIGTERM");
    await vi.advanceTimersByTimeAsync(24_999);
    expect(exits).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(await done).toBe(ExitCode.software);
    expect(exits).toEqual([ExitCode.software]);
  });

  it("exits 1 when stop() fails", async () => {
    const exits: ExitCodeValue[] = [];
    const shutdown = installGracefulShutdown({
      logger: silentLogger(),
      stop: async () => {
        throw new Error("journal flush failed");
      },
      hardExitMs: 1_000,
      exit: (code) => exits.push(code),
      source: new EventEmitter(),
    });
    expect(await shutdown.shutdown("test")).toBe(ExitCode.failure);
    expect(exits).toEqual([ExitCode.failure]);
  });
});

describe("journald priorities", () => {
  it("prefixes each line with its syslog priority when asked", async () => {
    const stream = new PassThrough();
    let text = "";
    stream.on("data", (chunk: Buffer) => {
      text += chunk.toString();
    });
    const logger = createLogger({ name: "vend-agent", level: "debug", destination: stream, syslogPrefix: true });
    logger.fatal("f");
    logger.error("e");
    logger.child({ module: "mdb" }).warn({ password: "secret-pw" }, "w");
    logger.info("i");
    logger.debug("d");
    await new Promise((resolve) => setImmediate(resolve));
    const lines = text.split("\n").filter(Boolean);
    expect(lines.map((line) => line.slice(0, 3))).toEqual(["<2>", "<3>", "<4>", "<6>", "<7>"]);
    // Still one JSON object per line after the prefix, with redaction intact.
    expect(JSON.parse(lines[2]!.slice(3))).toMatchObject({ level: "warn", module: "mdb", msg: "w" });
    expect(text).not.toContain("secret-pw");
  });

  it("maps pino levels to syslog priorities", () => {
    expect([60, 50, 40, 30, 20, 10].map(syslogPriority)).toEqual([2, 3, 4, 6, 7, 7]);
  });

  it("recognises the journal stream only when JOURNAL_STREAM names this very fd", async () => {
    const { openSync, fstatSync, closeSync, mkdtempSync } = await import("node:fs");
    const { join } = await import("node:path");
    const { tmpdir } = await import("node:os");
    const fd = openSync(join(mkdtempSync(join(tmpdir(), "journal-")), "stream"), "w");
    try {
      const stat = fstatSync(fd);
      expect(isJournalStream({ JOURNAL_STREAM: `${stat.dev}:${stat.ino}` }, fd)).toBe(true);
      expect(isJournalStream({ JOURNAL_STREAM: `${stat.dev}:${stat.ino + 1}` }, fd)).toBe(false);
      expect(isJournalStream({}, fd)).toBe(false);
    } finally {
      closeSync(fd);
    }
  });

  it("turns the prefix on by itself in a program whose stdout is the journal stream, and only then", async () => {
    const { spawnSync } = await import("node:child_process");
    const { openSync, fstatSync, closeSync, mkdtempSync, readFileSync } = await import("node:fs");
    const { join } = await import("node:path");
    const { tmpdir } = await import("node:os");
    const script =
      'import("./platform/logger.ts").then((m) => { const l = m.createLogger({ name: "x", level: "info" }); l.error("e"); });';
    const run = (journalStream: (stat: { dev: number; ino: number }) => string) => {
      const file = join(mkdtempSync(join(tmpdir(), "journal-")), "stdout");
      const fd = openSync(file, "w");
      const stat = fstatSync(fd);
      spawnSync(process.execPath, ["--import", "tsx", "-e", script], {
        cwd: join(import.meta.dirname, "..", ".."),
        stdio: ["ignore", fd, "inherit"],
        env: { ...process.env, JOURNAL_STREAM: journalStream(stat) },
      });
      closeSync(fd);
      return readFileSync(file, "utf8");
    };
    expect(run((stat) => `${stat.dev}:${stat.ino}`)).toMatch(/^<3>\{"level":"error"/);
    expect(run(() => "1:2")).toMatch(/^\{"level":"error"/);
  });
});
