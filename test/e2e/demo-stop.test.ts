import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";

/**
 * Ctrl-C on `npm start` (issue 21 item 12). A terminal's Ctrl-C sends SIGINT to the whole foreground process group:
 * the demo and every child it started. The demo must still print "Stopped.", remove its data directory (generated
 * keys and passwords), exit 0, and print no error-level lines while stopping. Three runs, as the report saw it fail
 * in two of three.
 */

const root = resolve(import.meta.dirname, "../..");

async function runAndInterrupt(): Promise<{ code: number | null; output: string; dataDir: string }> {
  // Its own process group, so that signalling the group is what a terminal does, and nothing else gets it.
  const demo: ChildProcess = spawn(process.execPath, ["--import", "tsx", "demo/main.ts", "--port", "0"], {
    cwd: root,
    env: { ...process.env, NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let output = "";
  demo.stdout?.on("data", (chunk) => {
    output += chunk;
  });
  demo.stderr?.on("data", (chunk) => {
    output += chunk;
  });
  const exited = new Promise<number | null>((done) => demo.once("exit", (code) => done(code)));
  try {
    const deadline = Date.now() + 90_000;
    while (!/Press Ctrl-C to stop/.test(output)) {
      if (Date.now() > deadline || demo.exitCode !== null) throw new Error(`the demo did not start:\n${output}`);
      await new Promise((done) => setTimeout(done, 100));
    }
    const dataDir = /Data: (\S+) \(removed on exit\)/.exec(output)?.[1];
    if (!dataDir) throw new Error(`no data directory in the banner:\n${output}`);
    expect(existsSync(dataDir)).toBe(true);
    process.kill(-(demo.pid as number), "SIGINT");
    const code = await Promise.race([
      exited,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`the demo did not stop within 60 s:\n${output}`)), 60_000),
      ),
    ]);
    return { code, output, dataDir };
  } finally {
    if (demo.exitCode === null && demo.signalCode === null) {
      try {
        process.kill(-(demo.pid as number), "SIGKILL");
      } catch {
        // already gone
      }
    }
  }
}

describe("Ctrl-C on the demo", () => {
  it("prints Stopped., removes its data directory and prints no error on stop, three times in a row", async () => {
    for (let run = 1; run <= 3; run++) {
      const { code, output, dataDir } = await runAndInterrupt();
      // `--port 0` is any free port for every part, not the usual ones (ephemeral ports are far above them): a second
      // test run beside this one starts demos too.
      const bridgePort = Number(/Bridge: +http:\/\/[^:]+:(\d+)\//.exec(output)?.[1]);
      const brokerPort = Number(/MQTT broker: +mqtt:\/\/[^:]+:(\d+)/.exec(output)?.[1]);
      expect([bridgePort, brokerPort], output).not.toContain(8443);
      expect(brokerPort, output).toBeGreaterThan(1883);
      expect(bridgePort, output).toBeGreaterThan(9464);
      const afterStop = output.slice(output.indexOf("Press Ctrl-C to stop"));
      expect(afterStop, `run ${run}`).toContain("Stopping the demo...");
      expect(afterStop, `run ${run}`).toContain("Stopped.");
      expect(code, `run ${run}:\n${output}`).toBe(0);
      expect(existsSync(dataDir), `run ${run}: ${dataDir} left behind`).toBe(false);
      // Error-level log lines of the parts are printed as "[part] message"; none may come from a stop.
      expect(afterStop, `run ${run}:\n${afterStop}`).not.toMatch(/^\[[\w-]+\] /m);
      expect(afterStop, `run ${run}`).not.toContain("exited unexpectedly");
    }
  }, 400_000);
});
