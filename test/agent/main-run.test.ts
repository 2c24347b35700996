import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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
const moduleLogPreload = pathToFileURL(join(import.meta.dirname, "helpers", "module-log-preload.ts")).href;

function startMain(env: Record<string, string> = {}, options: { crashPreload?: boolean; moduleLog?: boolean } = {}) {
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
  const moduleLog = join(dir, "modules.log");
  const preload = [
    ...(options.crashPreload ? ["--import", crashPreload] : []),
    ...(options.moduleLog ? ["--import", moduleLogPreload] : []),
  ];
  const child = spawn(
    process.execPath,
    ["--import", "tsx", ...preload, "agent/main.ts", "run", "--config", configFile],
    {
      cwd: join(import.meta.dirname, "../.."),
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...env, ...(options.moduleLog ? { MODULE_LOG: moduleLog } : {}) },
    },
  );
  const output: string[] = [];
  child.stdout.on("data", (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => output.push(chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  return { machineId, child, output, exited, loadedModules: () => readFileSync(moduleLog, "utf8").split("\n") };
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

  it("loads only what its configuration names: no serial port, GPIO, QR code, screen or WebSocket code for a simulator without a screen", async () => {
    // What an idle agent holds in memory is mostly the code it loaded (issue 20: idle RSS <= 1.5x bare node).
    const run = startMain({}, { moduleLog: true });
    try {
      await until(() => bridge.fleet.isOnline(run.machineId), 45_000, `online; output: ${run.output.join("")}`);
      run.child.kill("SIGTERM");
      expect(await run.exited).toMatchObject({ code: 0 });
    } finally {
      run.child.kill("SIGKILL");
    }
    const loaded = run.loadedModules();
    // The log works: the configured driver, its simulator and the MQTT client are in it.
    expect(loaded.filter((url) => url.endsWith("/hardware/simulators/simulated-mechanism.ts"))).not.toEqual([]);
    expect(loaded.filter((url) => url.endsWith("/hardware/mdb/mdb-cashless-mechanism.ts"))).not.toEqual([]);
    expect(loaded.filter((url) => url.includes("/node_modules/mqtt/"))).not.toEqual([]);
    const notConfigured = [
      /\/node_modules\/(serialport|@serialport\/[^/]+|onoff|epoll|qrcode|pngjs|ws|socks)\//,
      /\/hardware\/gpio\/(onoff-gpio-factory|sysfs-gpio-chips)\.ts$/,
      /\/agent\/display\/(kiosk-server|kiosk-page|framebuffer|terminal|qr|png|raster-screen)\.ts$/,
      /\/agent\/cli\/(doctor|qr|ports|test-vend|mqtt)-command\.ts$/,
    ];
    expect(loaded.filter((url) => notConfigured.some((pattern) => pattern.test(url)))).toEqual([]);
  }, 60_000);
});
