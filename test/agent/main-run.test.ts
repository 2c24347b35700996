import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BridgeSide, bridgeUser, EmbeddedBrokerFixture, uniqueMachineId, uniqueRoot } from "./helpers/mqtt-harness.ts";
import { testCatalog, until } from "./helpers/session-harness.ts";

/**
 * The real composition root, `vend-agent run` (agent/main.ts), as a child process with the hardware issue's
 * simulator driver: it comes online only once the simulated MDB machine is up, answers a ping, and on SIGTERM
 * publishes offline and exits 0. With VEND_AGENT_CRASH_AT it dies by SIGKILL at the named write point.
 */

const commandKey = "ef".repeat(32);
const root = uniqueRoot();
const broker = new EmbeddedBrokerFixture(root);
const keys: Record<string, string> = {};
let bridge: BridgeSide;
const dirs: string[] = [];

beforeAll(async () => {
  await broker.start();
  bridge = new BridgeSide(broker.url, root, keys, bridgeUser);
  await bridge.start();
});
afterAll(async () => {
  await bridge.stop();
  await broker.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function startMain(env: Record<string, string> = {}, preload: string[] = []) {
  const machineId = uniqueMachineId();
  keys[machineId] = commandKey;
  broker.addMachine(machineId, "pw");
  const dir = mkdtempSync(join(tmpdir(), "vend-main-"));
  dirs.push(dir);
  const configFile = join(dir, "agent.yaml");
  writeFileSync(
    configFile,
    JSON.stringify({
      machine: { id: machineId, merchantId: "acme" },
      mqtt: { url: broker.url, rootTopic: root, password: "pw", reconnectMinMs: 100, reconnectMaxMs: 1_000 },
      commandKey,
      catalog: testCatalog,
      hardware: { driver: "simulator", simulate: "mdb", vendDurationMs: 50 },
      display: { renderer: "none" },
      dataDir: join(dir, "data"),
      log: { level: "info" },
    }),
  );
  const child = spawn(
    process.execPath,
    ["--import", "tsx", ...preload, "agent/main.ts", "run", "--config", configFile],
    {
      cwd: join(import.meta.dirname, "../.."),
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...env },
    },
  );
  const output: string[] = [];
  child.stdout.on("data", (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => output.push(chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  return { machineId, child, output, exited };
}

describe("vend-agent run (agent/main.ts) with the simulator driver", () => {
  it("comes online, answers ping, and on SIGTERM publishes offline and exits 0", async () => {
    const run = startMain();
    try {
      await until(() => bridge.fleet.isOnline(run.machineId), 45_000, `online; output: ${run.output.join("")}`);
      const commandId = await bridge.fleet.send(run.machineId, "ping", {});
      await until(() =>
        [...bridge.store.values()].some(
          (e) => e.name === "pong" && "commandId" in e.payload && e.payload.commandId === commandId,
        ),
      );
      expect(bridge.fleet.lastState(run.machineId)).toMatchObject({
        screen: "idle",
        hardware: { driver: "simulator", link: "up" },
      });
      run.child.kill("SIGTERM");
      expect(await run.exited).toMatchObject({ code: 0 });
      await until(() => !bridge.fleet.isOnline(run.machineId), 5_000, "offline");
    } finally {
      run.child.kill("SIGKILL");
    }
  });

  it("the production binary ignores VEND_AGENT_CRASH_AT: it comes online and stops cleanly", async () => {
    const run = startMain({ VEND_AGENT_CRASH_AT: "boot" });
    try {
      await until(() => bridge.fleet.isOnline(run.machineId), 45_000, `online; output: ${run.output.join("")}`);
      run.child.kill("SIGTERM");
      expect(await run.exited).toEqual({ code: 0, signal: null });
      expect(run.output.join("")).not.toContain("crash-test hook armed");
    } finally {
      if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill("SIGKILL");
    }
  });

  it("with the test-only crash preload, VEND_AGENT_CRASH_AT=boot kills it by SIGKILL right after the boot record", async () => {
    const run = startMain({ VEND_AGENT_CRASH_AT: "boot" }, ["--import", "./test/agent/helpers/crash-preload.ts"]);
    expect(await run.exited).toMatchObject({ signal: "SIGKILL" });
    expect(run.output.join("")).toContain("crash-test hook armed");
  });
});
