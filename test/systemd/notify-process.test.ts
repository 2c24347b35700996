import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { type NotifyStandIn, openNotifyStandIn } from "./notify-stand-in.ts";

/**
 * A real process under a notify-socket stand-in, as systemd runs it: NOTIFY_SOCKET and WATCHDOG_USEC in its env.
 * The fixture is wired like the composition roots (platform/systemd-service.ts) with a "hardware link alive" check
 * fed by a fake adapter; SIGUSR1 makes that link hang.
 */

const fixture = fileURLToPath(new URL("./fixtures/watchdog-fixture.ts", import.meta.url));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Started {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function startFixture(env: Record<string, string>): Started {
  const child = spawn(process.execPath, ["--import", "tsx", fixture], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, output: () => output, exited };
}

describe("a service under a notify-socket stand-in", () => {
  let standIn: NotifyStandIn | undefined;
  let started: Started | undefined;
  afterEach(async () => {
    if (started && started.child.exitCode === null) {
      started.child.kill("SIGKILL");
      await started.exited;
    }
    standIn?.close();
    standIn = undefined;
    started = undefined;
  });

  it("sends READY and watchdog pings, stops pinging when the hardware link hangs, and says STOPPING on SIGTERM", async () => {
    standIn = openNotifyStandIn();
    // WatchdogSec=0.6s: pings every 300 ms; the link counts as hung after 400 ms without a sign of life.
    started = startFixture({ NOTIFY_SOCKET: standIn.path, WATCHDOG_USEC: "600000", FIXTURE_MAX_AGE_MS: "400" });
    const ready = await standIn.waitFor("READY", "1", 15_000);
    expect(ready.fields.STATUS).toBe("fixture running");

    // Positive evidence, not a count after a sleep: a loaded machine may delay any of these, never reorder them.
    await standIn.waitForCount("WATCHDOG", 3, ready.at);

    started.child.kill("SIGUSR1");
    const unhealthy = await standIn.waitForLatest("STATUS", (status) =>
      status.includes("unhealthy: hardware link alive: no sign"),
    );
    // The heartbeat is gone for good, so once the watchdog said "unhealthy" it never pings again: wait for several
    // ping intervals of the process's own ticks (its log says it is still evaluating) and check the order.
    await sleep(1_000);
    expect(standIn.latest("STATUS")).toBe(unhealthy);
    expect(standIn.after(unhealthy, "WATCHDOG")).toEqual([]);
    expect(started.output()).toContain("watchdog pings withheld");
    expect(started.output()).toMatch(/"level":"error".*watchdog pings withheld/);

    started.child.kill("SIGTERM");
    const stopping = await standIn.waitFor("STOPPING", "1", 5_000);
    expect(stopping.fields.STATUS).toBe("stopping (SIGTERM)");
    expect(await started.exited).toBe(0);
  });

  it("logs loudly at error level when WATCHDOG_USEC is set but the socket does not exist", async () => {
    started = startFixture({ NOTIFY_SOCKET: "/nonexistent/seqr-vend/notify", WATCHDOG_USEC: "600000" });
    const deadline = Date.now() + 15_000;
    while (!started.output().includes("PINGS CANNOT BE SENT") && Date.now() < deadline) await sleep(100);
    expect(started.output()).toMatch(/"level":"error".*WATCHDOG IS CONFIGURED BUT PINGS CANNOT BE SENT/);
    started.child.kill("SIGTERM");
    expect(await started.exited).toBe(0);
  });
});
