import mqtt from "mqtt";
import { SerialPort } from "serialport";
import { afterEach, describe, expect, it } from "vitest";
import { runMqttCheck } from "../../agent/cli/mqtt-check.ts";
import { runTestVend, type TestVendStep } from "../../agent/cli/test-vend-command.ts";
import { startEmbeddedBroker } from "../../backend-bridge/broker/embedded-broker.ts";
import { createVendMechanism } from "../../hardware/index.ts";
import { SocatPtyPair } from "../../hardware/simulators/socat-pty-pair.ts";
import { ExitCode } from "../../platform/exit-codes.ts";
import { silentLogger } from "../../platform/logger.ts";
import { bridgeUser, testCredentials } from "../broker/helpers.ts";
import { hasService, hasTool, mosquittoUrl } from "../helpers/system-tools.ts";
import { agentConfig, openBroker } from "./fixtures.ts";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const realMechanism = (config: ReturnType<typeof agentConfig>) =>
  createVendMechanism(config.hardware, config.catalog, { logger: silentLogger() });

describe("test-vend", () => {
  it("vends one selection on the simulator, printing each step, exit 0", async () => {
    const steps: TestVendStep[] = [];
    const config = agentConfig();
    const code = await runTestVend(
      config,
      { selection: "11", timeoutMs: 10_000, json: false },
      { createMechanism: realMechanism, agentRunning: async () => false },
      (step) => steps.push(step),
    );
    expect(code).toBe(ExitCode.ok);
    expect(steps.map((step) => step.step)).toEqual(
      expect.arrayContaining(["start", "session", "select", "vend", "stop"]),
    );
    expect(steps.find((step) => step.step === "vend")).toMatchObject({
      ok: true,
      detail: expect.stringMatching(/^delivered/),
    });
    expect(steps.find((step) => step.step === "session")?.detail).toMatch(/2\.50 EUR/);
    expect(steps.every((step) => step.ok)).toBe(true);
  });

  it("refuses while the agent service runs, before touching the hardware", async () => {
    let created = false;
    const steps: TestVendStep[] = [];
    const code = await runTestVend(
      agentConfig(),
      { selection: "11", timeoutMs: 1_000, json: false },
      {
        createMechanism: (config) => {
          created = true;
          return realMechanism(config);
        },
        agentRunning: async () => true,
      },
      (step) => steps.push(step),
    );
    expect(code).toBe(ExitCode.unavailable);
    expect(created).toBe(false);
    expect(steps[0]?.detail).toMatch(/systemctl stop vend-agent/);
  });

  it("an unknown selection is a usage error listing the catalog", async () => {
    const steps: TestVendStep[] = [];
    const code = await runTestVend(
      agentConfig(),
      { selection: "99", timeoutMs: 1_000, json: false },
      { createMechanism: realMechanism, agentRunning: async () => false },
      (step) => steps.push(step),
    );
    expect(code).toBe(ExitCode.usage);
    expect(steps[0]?.detail).toMatch(/not in the catalog \(11\)/);
  });

  it.runIf(hasTool("socat"))(
    "refuses with a clear message while another process holds the serial port (lock)",
    async () => {
      const pair = await SocatPtyPair.open();
      cleanups.push(() => pair.close());
      // The "running agent": an open, locked serialport on the same device.
      const holder = new SerialPort({ path: pair.hostPath, baudRate: 57_600, autoOpen: false });
      await new Promise<void>((resolve, reject) => holder.open((error) => (error ? reject(error) : resolve())));
      cleanups.push(() => new Promise<void>((resolve) => holder.close(() => resolve())));
      const steps: TestVendStep[] = [];
      const config = agentConfig({ hardware: { driver: "spiral-board", serial: { path: pair.hostPath } } });
      const code = await runTestVend(
        config,
        { selection: "11", timeoutMs: 5_000, json: false },
        { createMechanism: realMechanism, agentRunning: async () => false },
        (step) => steps.push(step),
      );
      expect(code).toBe(ExitCode.unavailable);
      const failure = steps.find((step) => !step.ok);
      expect(failure?.detail).toMatch(/held by another process \(Cannot lock port\).*systemctl stop vend-agent/);
    },
  );
});

const mosquittoUp = await hasService("Mosquitto", "127.0.0.1", 1883);

describe("mqtt check", () => {
  it.runIf(mosquittoUp)("against the real Mosquitto: connect, subscribe, ping latency", async () => {
    const machineId = `chk-${process.pid}-${Date.now()}`;
    const config = agentConfig({ machine: { id: machineId, merchantId: "acme" }, mqtt: { url: mosquittoUrl } });
    const report = await runMqttCheck({ mqtt: config.mqtt, machineId, pings: 3 });
    expect(report.ok).toBe(true);
    expect(report.steps.map((step) => [step.name, step.ok])).toEqual([
      ["connect", true],
      ["subscribe", true],
      ["round-trip", true],
    ]);
    expect(report.latencyMs).toBeGreaterThanOrEqual(0);
    expect(report.latencyMs).toBeLessThan(1_000);
  });

  it("against the embedded broker: a good password passes the ACL, a bad one is refused with the broker's words", async () => {
    const broker = await startEmbeddedBroker({
      rootTopic: "vending/v1",
      credentials: testCredentials({ C0001: "right-password-1" }),
      bridgeUser,
      tcp: { host: "127.0.0.1", port: 0 },
      drainTimeoutMs: 2_000,
      maxTopicLevels: 8,
      logger: silentLogger(),
    });
    cleanups.push(() => broker.close());
    const url = `mqtt://127.0.0.1:${broker.tcpPort}`;
    const good = agentConfig({ mqtt: { url, password: "right-password-1" } });
    const ok = await runMqttCheck({ mqtt: good.mqtt, machineId: "C0001", pings: 2 });
    expect(ok.steps).toMatchObject([
      { name: "connect", ok: true },
      { name: "subscribe", ok: true },
      { name: "round-trip", ok: true },
    ]);

    const bad = agentConfig({ mqtt: { url, password: "wrong-password-1" } });
    const refused = await runMqttCheck({ mqtt: bad.mqtt, machineId: "C0001", timeoutMs: 5_000 });
    expect(refused.ok).toBe(false);
    expect(refused.steps[0]).toMatchObject({
      name: "connect",
      ok: false,
      detail: expect.stringMatching(/bad username or password/),
    });
    expect(refused.steps[0]?.verbatim).toMatch(/Bad username or password/i);
  });

  it("beside a live agent: checks with its own client id and never takes the agent's session over", async () => {
    const broker = await openBroker(cleanups);
    const agent = await mqtt.connectAsync(broker.url, { clientId: "C0001", reconnectPeriod: 0, clean: true });
    let agentClosed = 0;
    agent.on("close", () => {
      agentClosed += 1;
    });
    cleanups.push(() => agent.endAsync(true));
    await agent.subscribeAsync("probe/echo", { qos: 1 });

    const config = agentConfig({ mqtt: { url: broker.url } });
    const report = await runMqttCheck({ mqtt: config.mqtt, machineId: "C0001", pings: 2 });
    expect(report.ok).toBe(true);
    expect(report.clientId).not.toBe("C0001");
    expect(broker.clientIds).toEqual(["C0001", report.clientId]);
    // Positive evidence the agent's link still works after the check: a round trip through the broker.
    const echoed = new Promise<string>((resolve) =>
      agent.once("message", (_topic, payload) => resolve(String(payload))),
    );
    await agent.publishAsync("probe/echo", "still here", { qos: 1 });
    expect(await echoed).toBe("still here");
    expect(agentClosed).toBe(0);
  });

  it("nothing listening: connection refused, said plainly", async () => {
    const config = agentConfig({ mqtt: { url: "mqtt://127.0.0.1:1" } });
    const report = await runMqttCheck({ mqtt: config.mqtt, machineId: "C0001", timeoutMs: 3_000 });
    expect(report.ok).toBe(false);
    expect(report.steps[0]).toMatchObject({
      name: "connect",
      detail: expect.stringMatching(/connection refused/),
      verbatim: expect.stringMatching(/ECONNREFUSED/),
    });
  });

  it("an unreadable CA file is reported against its key", async () => {
    const config = agentConfig({ mqtt: { url: "mqtts://127.0.0.1:8883", caFile: "/nonexistent/ca.pem" } });
    const report = await runMqttCheck({ mqtt: config.mqtt, machineId: "C0001" });
    expect(report.steps[0]?.detail).toMatch(/^mqtt\.caFile: cannot read \/nonexistent\/ca\.pem/);
  });
});
