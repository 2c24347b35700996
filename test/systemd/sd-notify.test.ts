import { spawn } from "node:child_process";
import { PassThrough } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../../platform/logger.ts";
import {
  createSdNotifier,
  formatNotifyMessage,
  parseNotifyAddress,
  watchdogIntervalMs,
} from "../../platform/sd-notify.ts";
import { hasTool } from "../helpers/system-tools.ts";
import { type NotifyStandIn, openNotifyStandIn } from "./notify-stand-in.ts";

function capturedLogger() {
  const stream = new PassThrough();
  const lines: Array<{ level: string; msg: string } & Record<string, unknown>> = [];
  stream.on("data", (chunk: Buffer) => {
    for (const line of chunk.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(line));
  });
  return { logger: createLogger({ name: "test", level: "debug", destination: stream }), lines };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe("sd_notify environment", () => {
  it("reads paths and @abstract names, and refuses anything else", () => {
    expect(parseNotifyAddress("/run/systemd/notify")).toEqual({ kind: "path", path: "/run/systemd/notify" });
    expect(parseNotifyAddress("@/org/freedesktop/systemd1/notify")).toEqual({
      kind: "abstract",
      name: "/org/freedesktop/systemd1/notify",
    });
    expect(parseNotifyAddress(undefined)).toBeUndefined();
    expect(parseNotifyAddress("")).toBeUndefined();
    expect(parseNotifyAddress("@")).toBeUndefined();
    expect(parseNotifyAddress("relative/notify")).toBeUndefined();
  });

  it("takes WATCHDOG_USEC only when it is for this process", () => {
    expect(watchdogIntervalMs({ WATCHDOG_USEC: "20000000" }, 42)).toBe(20_000);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: "20000000", WATCHDOG_PID: "42" }, 42)).toBe(20_000);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: "20000000", WATCHDOG_PID: "41" }, 42)).toBeUndefined();
    expect(watchdogIntervalMs({ WATCHDOG_USEC: "0" }, 42)).toBeUndefined();
    expect(watchdogIntervalMs({ WATCHDOG_USEC: "soon" }, 42)).toBeUndefined();
    expect(watchdogIntervalMs({}, 42)).toBeUndefined();
  });

  it("keeps every value on one line, so a status text cannot inject READY=1", () => {
    expect(formatNotifyMessage({ STATUS: "jammed\nREADY=1", WATCHDOG: 1 })).toBe("STATUS=jammed READY=1\nWATCHDOG=1");
  });
});

describe("sd_notify notifier", () => {
  let standIn: NotifyStandIn | undefined;
  afterEach(() => {
    standIn?.close();
    standIn = undefined;
  });

  it("is a silent no-op without NOTIFY_SOCKET", async () => {
    const { logger, lines } = capturedLogger();
    const notifier = await createSdNotifier({ env: {}, logger });
    expect(notifier.active).toBe(false);
    expect(notifier.ready()).toBe(false);
    expect(notifier.watchdogPing()).toBe(false);
    await tick();
    expect(lines).toEqual([]);
  });

  it("sends READY, STATUS, WATCHDOG and STOPPING datagrams to the socket", async () => {
    standIn = openNotifyStandIn();
    const { logger } = capturedLogger();
    const notifier = await createSdNotifier({
      env: { NOTIFY_SOCKET: standIn.path, WATCHDOG_USEC: "4000000" },
      logger,
      pid: 1234,
    });
    expect(notifier.active).toBe(true);
    expect(notifier.watchdogMs).toBe(4_000);
    expect(notifier.ready("vending")).toBe(true);
    expect(notifier.watchdogPing()).toBe(true);
    expect(notifier.status("adapter reconnecting")).toBe(true);
    expect(notifier.stopping()).toBe(true);
    await standIn.waitFor("STOPPING", "1", 2_000);
    expect(standIn.received.map((message) => message.fields)).toEqual([
      { READY: "1", STATUS: "vending" },
      { WATCHDOG: "1" },
      { STATUS: "adapter reconnecting" },
      { STOPPING: "1" },
    ]);
    notifier.close();
  });

  it("logs at error level, loudly, when the watchdog is configured but the module cannot load", async () => {
    const { logger, lines } = capturedLogger();
    const notifier = await createSdNotifier({
      env: { NOTIFY_SOCKET: "/run/systemd/notify", WATCHDOG_USEC: "20000000" },
      logger,
      transportFactory: async () => {
        throw new Error("Cannot find module 'unix-dgram'");
      },
    });
    await tick();
    expect(notifier.active).toBe(false);
    expect(notifier.watchdogPing()).toBe(false);
    const loud = lines.find((line) => line.level === "error");
    expect(loud?.msg).toContain("WATCHDOG IS CONFIGURED BUT PINGS CANNOT BE SENT");
    expect(loud?.msg).toContain("Cannot find module 'unix-dgram'");
  });

  it("logs at error level when pings fail to reach the socket, and only the first of a run of failures", async () => {
    const { logger, lines } = capturedLogger();
    const notifier = await createSdNotifier({
      env: { NOTIFY_SOCKET: "/nonexistent/seqr-vend/notify.sock", WATCHDOG_USEC: "20000000" },
      logger,
    });
    expect(notifier.active).toBe(true);
    for (let i = 0; i < 5; i++) expect(notifier.watchdogPing()).toBe(false);
    await tick();
    const errors = lines.filter((line) => line.level === "error");
    expect(errors).toHaveLength(1);
    expect(errors[0]?.msg).toContain("WATCHDOG IS CONFIGURED BUT PINGS CANNOT BE SENT");
    notifier.close();
  });

  it("warns (not errors) when only readiness is lost: no watchdog, no restart loop", async () => {
    const { logger, lines } = capturedLogger();
    await createSdNotifier({
      env: { NOTIFY_SOCKET: "/run/systemd/notify" },
      logger,
      transportFactory: async () => {
        throw new Error("no module");
      },
    });
    await tick();
    expect(lines.map((line) => line.level)).toEqual(["warn"]);
  });
});

describe.runIf(hasTool("socat") && hasTool("systemd-notify"))("sd_notify on an abstract socket", () => {
  it("reaches '@name' sockets through the systemd-notify tool", async () => {
    const name = `seqr-vend-test-${process.pid}-${Date.now()}`;
    const receiver = spawn("socat", ["-u", `ABSTRACT-RECV:${name}`, "STDOUT"], { stdio: ["ignore", "pipe", "pipe"] });
    let text = "";
    receiver.stdout.on("data", (chunk: Buffer) => {
      text += chunk.toString();
    });
    try {
      const { logger, lines } = capturedLogger();
      const notifier = await createSdNotifier({ env: { NOTIFY_SOCKET: `@${name}`, WATCHDOG_USEC: "2000000" }, logger });
      expect(notifier.active).toBe(true);
      // socat binds the socket when it gets to it: datagrams sent before are lost, so ping until one arrives.
      const deadline = Date.now() + 20_000;
      while (!text.includes("WATCHDOG=1") && Date.now() < deadline) {
        notifier.watchdogPing();
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(text).toContain("WATCHDOG=1");
      // The fallback needs NotifyAccess=all in the unit: the notifier says so.
      expect(lines.some((line) => line.level === "warn" && line.msg.includes("NotifyAccess=all"))).toBe(true);
    } finally {
      receiver.kill();
    }
  });
});
