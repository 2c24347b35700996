import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import mqtt, { type IClientOptions } from "mqtt";
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
  it("grows exponentially to the cap, with full jitter above a 100 ms floor", () => {
    expect(reconnectDelayMs(0, 1_000, 60_000, () => 0)).toBe(100);
    expect(reconnectDelayMs(0, 1_000, 60_000, () => 1)).toBe(1_000);
    expect(reconnectDelayMs(3, 1_000, 60_000, () => 0.5)).toBe(4_050);
    expect(reconnectDelayMs(50, 1_000, 60_000, () => 0)).toBe(100);
    expect(reconnectDelayMs(50, 1_000, 60_000, () => 1)).toBe(60_000);
    expect(reconnectDelayMs(0, 50, 60_000, () => 0)).toBe(50);
    const spread = new Set(Array.from({ length: 50 }, () => reconnectDelayMs(4, 1_000, 60_000, Math.random)));
    expect(spread.size).toBeGreaterThan(10);
  });

  it("a fleet that lost its broker together comes back spread out, not in lock-step (issue 17)", () => {
    // 2,000 agents lose the broker at t = 0; it is back at t = 30 s. Each retries on its own schedule; the first
    // attempt at or after 30 s is its reconnect. Seeded, so the figures are the same on every run.
    let seed = 42;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const backAt = 30_000;
    const reconnects: number[] = [];
    for (let agent = 0; agent < 2_000; agent++) {
      let at = 0;
      for (let attempt = 0; at < backAt; attempt++) at += reconnectDelayMs(attempt, 1_000, 30_000, random);
      reconnects.push(at - backAt);
    }
    const perSecond = new Map<number, number>();
    for (const after of reconnects)
      perSecond.set(Math.floor(after / 1_000), (perSecond.get(Math.floor(after / 1_000)) ?? 0) + 1);
    // Every agent is back within the cap (the default 30 s), and no second takes more than 6.5 % of the fleet. With
    // "equal jitter" (delays in the upper half of the window, as before) the busiest second took 7.5 %, and half the
    // fleet was still away after 15 s instead of 9 s.
    expect(Math.max(...reconnects)).toBeLessThanOrEqual(30_000);
    expect(Math.max(...perSecond.values())).toBeLessThan(130);
    expect([...reconnects].sort((a, b) => a - b)[1_000]).toBeLessThan(10_000);
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

describe("memory", () => {
  it("opens its client without mqtt.js's write cache (65,536 pre-made number Buffers, 6.5 MB of an idle agent)", () => {
    const config = agentConfig({
      machineId: "MEM1",
      url: "mqtt://127.0.0.1:1",
      rootTopic: uniqueRoot(),
      commandKey: "aa".repeat(32),
      dataDir: "/unused",
    });
    const opened: IClientOptions[] = [];
    const link = new AgentLink({
      mqtt: config.mqtt,
      machineId: "MEM1",
      bootId: "b1",
      bootSeq: 1,
      clock: systemClock,
      logger: silentLogger(),
      onCommand: () => undefined,
      onConnected: () => undefined,
      connect: (url, options) => {
        opened.push(options);
        return mqtt.connect(url, options);
      },
    });
    link.start();
    cleanups.push(() => link.stop(0));
    expect(opened).toHaveLength(1);
    expect(opened[0]?.writeCache).toBe(false);
  });
});
