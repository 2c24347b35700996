import { describe, expect, it } from "vitest";
import { bridgeMqttPassword, embeddedBrokerOptionsFromConfig } from "../../backend-bridge/broker/from-config.ts";
import { InMemoryMachineCredentials } from "../../backend-bridge/broker/machine-credentials.ts";
import { fleetConnectionFromConfig } from "../../backend-bridge/fleet/connection-from-config.ts";
import { bridgeConfigSchema } from "../../config/schema/bridge.ts";
import { silentLogger } from "../../platform/logger.ts";
import { startTestBroker } from "./helpers.ts";

const base = {
  http: { plainHttp: true, publicBaseUrl: "https://vend.example.com/seqr" },
  callerAuth: { mode: "none" },
  seqr: { endpointUrl: "https://extdev.seqr.com/soap", terminalId: "T1", password: "secret-pw" },
};
const plainMqtt = { mode: "embedded", tcp: { enabled: true, port: 0 }, tls: { enabled: false } };
const deps = { credentials: new InMemoryMachineCredentials(), logger: silentLogger() };

describe("broker options from the bridge's configuration", () => {
  it("uses the configured guards and listeners, and a random bridge password when none is set", () => {
    const config = bridgeConfigSchema.parse({
      ...base,
      broker: { ...plainMqtt, maxTopicLevels: 6 },
    });
    const password = bridgeMqttPassword(config);
    expect(password).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(bridgeMqttPassword(config)).not.toBe(password);
    const options = embeddedBrokerOptionsFromConfig(config, { ...deps, bridgePassword: password });
    expect(options).toMatchObject({
      rootTopic: "vending/v1",
      bridgeUser: { username: "vend-bridge", password },
      tcp: { host: "0.0.0.0", port: 0 },
      drainTimeoutMs: 10_000,
      maxTopicLevels: 6,
    });
    expect(options.tls).toBeUndefined();
  });

  it("refuses TLS without files, unreadable files, no listener, and a machine named like the bridge", () => {
    // TLS is the default: without its files the configuration itself is refused, naming both keys.
    const tlsNoFiles = bridgeConfigSchema.safeParse({ ...base, broker: { mode: "embedded" } });
    expect(tlsNoFiles.error?.issues.map((issue) => issue.path.join("."))).toEqual([
      "broker.tls.certFile",
      "broker.tls.keyFile",
    ]);
    const tlsMissing = bridgeConfigSchema.parse({
      ...base,
      broker: {
        mode: "embedded",
        tls: { enabled: true, certFile: "/nonexistent/c.pem", keyFile: "/nonexistent/k.pem" },
      },
    });
    expect(() => embeddedBrokerOptionsFromConfig(tlsMissing, { ...deps, bridgePassword: "x" })).toThrow(
      /broker\.tls\.certFile: cannot read/,
    );
    const none = bridgeConfigSchema.safeParse({ ...base, broker: { mode: "embedded", tls: { enabled: false } } });
    expect(none.error?.issues[0]?.message).toMatch(/needs a listener/);
    const clash = bridgeConfigSchema.parse({
      ...base,
      broker: plainMqtt,
      machines: {
        "vend-bridge": {
          commandKey: "ab".repeat(32),
          catalog: { currency: "EUR", products: { A1: { name: "W", sku: "W", priceMinor: 1 } } },
        },
      },
    });
    expect(() => embeddedBrokerOptionsFromConfig(clash, { ...deps, bridgePassword: "x" })).toThrow(
      /bridge's MQTT username/,
    );
  });

  it("points the fleet link at the embedded broker over loopback, or at the external URL with $share", async () => {
    const embedded = bridgeConfigSchema.parse({ ...base, broker: plainMqtt });
    const broker = await startTestBroker();
    try {
      expect(fleetConnectionFromConfig(embedded, "pw-123456789012", broker)).toEqual({
        rootTopic: "vending/v1",
        username: "vend-bridge",
        password: "pw-123456789012",
        url: `mqtt://127.0.0.1:${broker.tcpPort}`,
      });
    } finally {
      await broker.close();
    }
    const external = bridgeConfigSchema.parse({
      ...base,
      broker: { mode: "external", url: "mqtts://broker.example:8883" },
      bridgeMqtt: { password: "bridge-pw-123456" },
    });
    expect(bridgeMqttPassword(external)).toBe("bridge-pw-123456");
    expect(fleetConnectionFromConfig(external, bridgeMqttPassword(external), undefined)).toMatchObject({
      url: "mqtts://broker.example:8883",
      sharedSubscriptionGroup: "vend-bridge",
    });
  });
});
