import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BridgeSide, bridgeUser, EmbeddedBrokerFixture, uniqueMachineId, uniqueRoot } from "./helpers/mqtt-harness.ts";
import { testCatalog, until } from "./helpers/session-harness.ts";

/**
 * The real composition root, `vend-agent run` (agent/main.ts), as a child process with the hardware issue's
 * simulator driver: it comes online only once the simulated MDB machine is up, answers a ping, and on SIGTERM
 * publishes offline and exits 0. VEND_AGENT_CRASH_AT means nothing to it; only with the test preload
 * (test/agent/helpers/crash-preload.ts) does it die by SIGKILL at the named write point.
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

const crashPreload = pathToFileURL(join(import.meta.dirname, "helpers", "crash-preload.ts")).href;

function startMain(env: Record<string, string> = {}, options: { crashPreload?: boolean } = {}) {
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
  const preload = options.crashPreload ? ["--import", crashPreload] : [];
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
  it("comes online, answers ping, and on SIGTERM publishes offline and exits 0 (the crash variable means nothing to it)", async () => {
    // The production binary never reads the crash-test variable: set, it changes nothing.
    const run = startMain({ VEND_AGENT_CRASH_AT: "boot" });
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
      expect(run.output.join("")).not.toContain("crash-test hook armed");
    } finally {
      run.child.kill("SIGKILL");
    }
  }, 60_000); // a cold start of main.ts's module graph on a busy 2-core machine

  it("with the test preload, VEND_AGENT_CRASH_AT=boot kills it with SIGKILL right after the boot record", async () => {
    const run = startMain({ VEND_AGENT_CRASH_AT: "boot" }, { crashPreload: true });
    expect(await run.exited).toMatchObject({ signal: "SIGKILL" });
    expect(run.output.join("")).toContain("crash-test hook armed");
  }, 60_000);
});
