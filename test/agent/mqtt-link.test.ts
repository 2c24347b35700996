import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { createAgent } from "../../agent/agent.ts";
import { describeConnectError } from "../../agent/mqtt/connect-errors.ts";
import { AgentLink, reconnectDelayMs } from "../../agent/mqtt/link.ts";
import { systemClock } from "../../platform/clock.ts";
import { createLogger, silentLogger } from "../../platform/logger.ts";
import { FakeMechanism } from "./helpers/fake-mechanism.ts";
import {
  agentConfig,
  BridgeSide,
  bridgeUser,
  EmbeddedBrokerFixture,
  uniqueMachineId,
  uniqueRoot,
} from "./helpers/mqtt-harness.ts";
import { until } from "./helpers/session-harness.ts";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function capturedLogger() {
  const stream = new PassThrough();
  const lines: string[] = [];
  stream.on("data", (chunk: Buffer) => lines.push(...chunk.toString().split("\n").filter(Boolean)));
  return { logger: createLogger({ name: "test", level: "debug", destination: stream }), lines };
}

describe("reconnect backoff", () => {
  it("grows exponentially to the cap, with jitter in the upper half", () => {
    expect(reconnectDelayMs(0, 1_000, 60_000, () => 0)).toBe(500);
    expect(reconnectDelayMs(0, 1_000, 60_000, () => 1)).toBe(1_000);
    expect(reconnectDelayMs(3, 1_000, 60_000, () => 0.5)).toBe(6_000);
    expect(reconnectDelayMs(50, 1_000, 60_000, () => 0)).toBe(30_000);
    expect(reconnectDelayMs(50, 1_000, 60_000, () => 1)).toBe(60_000);
    const spread = new Set(Array.from({ length: 50 }, () => reconnectDelayMs(4, 1_000, 60_000, Math.random)));
    expect(spread.size).toBeGreaterThan(10);
  });
});

describe("connection failures are explained plainly", () => {
  it("maps DNS, refused, TLS and CONNACK codes to sentences", () => {
    const url = "mqtts://broker.example:8883";
    expect(describeConnectError(Object.assign(new Error("x"), { code: "ENOTFOUND" }), url)).toMatch(/cannot resolve/);
    expect(describeConnectError(Object.assign(new Error("x"), { code: "ECONNREFUSED" }), url)).toMatch(
      /nothing listens/,
    );
    expect(describeConnectError(Object.assign(new Error("x"), { code: "DEPTH_ZERO_SELF_SIGNED_CERT" }), url)).toMatch(
      /caFile/,
    );
    expect(describeConnectError(Object.assign(new Error("x"), { code: "ERR_TLS_CERT_ALTNAME_INVALID" }), url)).toMatch(
      /TLS/,
    );
    expect(describeConnectError(Object.assign(new Error("x"), { code: 4 }), url)).toMatch(/bad username or password/);
    expect(describeConnectError(Object.assign(new Error("x"), { code: 5 }), url)).toMatch(/not authorized/);
  });

  it("logs a refused password and keeps retrying; logs an unresolvable host", async () => {
    const root = uniqueRoot();
    const broker = new EmbeddedBrokerFixture(root);
    const machineId = uniqueMachineId();
    broker.addMachine(machineId, "right");
    await broker.start();
    cleanups.push(() => broker.stop());
    const { logger, lines } = capturedLogger();
    const config = agentConfig({
      machineId,
      url: broker.url,
      rootTopic: root,
      password: "wrong",
      commandKey: "aa".repeat(32),
      dataDir: "/unused",
    });
    const link = new AgentLink({
      mqtt: { ...config.mqtt, reconnectMinMs: 50, reconnectMaxMs: 100 },
      machineId,
      bootId: "b1",
      bootSeq: 1,
      clock: systemClock,
      logger,
      onCommand: () => undefined,
      onConnected: () => undefined,
    });
    link.start();
    cleanups.push(() => link.stop(200));
    await until(() => lines.some((line) => line.includes("bad username or password")), 5_000, "credentials log");
    await until(() => lines.filter((line) => line.includes("connection failed again")).length >= 2, 5_000, "retries");

    const dns = new AgentLink({
      mqtt: { ...config.mqtt, url: "mqtt://no-such-host.invalid:1883" },
      machineId,
      bootId: "b2",
      bootSeq: 1,
      clock: systemClock,
      logger,
      onCommand: () => undefined,
      onConnected: () => undefined,
    });
    dns.start();
    cleanups.push(() => dns.stop(200));
    await until(() => lines.some((line) => line.includes("cannot resolve the broker's host name")), 10_000, "DNS log");
  });
});

describe("availability", () => {
  it("publishes online only once the hardware is up, with bootSeq from the journal", async () => {
    const root = uniqueRoot();
    const broker = new EmbeddedBrokerFixture(root);
    const machineId = uniqueMachineId();
    broker.addMachine(machineId, "pw");
    await broker.start();
    cleanups.push(() => broker.stop());
    const bridge = new BridgeSide(broker.url, root, {}, bridgeUser);
    await bridge.start();
    cleanups.push(() => bridge.stop());
    const availability: { state: string; bootSeq: number }[] = [];
    bridge.fleet.onAvailability((id, value) => {
      if (id === machineId) availability.push(value);
    });
    const dataDir = mkdtempSync(join(tmpdir(), "vend-avail-"));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const mechanism = new FakeMechanism();
    mechanism.failStart = 1; // the first start fails: the agent is connected but not online
    const config = agentConfig({
      machineId,
      url: broker.url,
      rootTopic: root,
      password: "pw",
      commandKey: "aa".repeat(32),
      dataDir,
    });
    const agent = createAgent({ config, logger: silentLogger(), mechanism });
    const started = agent.start();
    await until(() => bridge.fleet.lastState(machineId)?.screen === "starting", 5_000, "starting state");
    expect(bridge.fleet.isOnline(machineId)).toBe(false);
    await started;
    await until(() => bridge.fleet.isOnline(machineId), 5_000, "online after the hardware retry");
    await agent.stop();
    const again = createAgent({ config, logger: silentLogger(), mechanism: new FakeMechanism() });
    await again.start();
    cleanups.push(() => again.stop());
    await until(() => availability.some((value) => value.state === "online" && value.bootSeq === 2), 5_000, "boot 2");
    expect(again.bootSeq).toBe(2);
  });
});
