import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgent } from "../../agent/agent.ts";
import { type EmbeddedBroker, startEmbeddedBroker } from "../../backend-bridge/broker/embedded-broker.ts";
import { InMemoryMachineCredentials } from "../../backend-bridge/broker/machine-credentials.ts";
import { hashPassword } from "../../backend-bridge/broker/password-hash.ts";
import { createLogger } from "../../platform/logger.ts";
import { makeTlsFixtures, type TlsFixtures } from "../broker/tls-fixtures.ts";
import { hasTool } from "../helpers/system-tools.ts";
import { FakeMechanism } from "./helpers/fake-mechanism.ts";
import { agentConfig, bridgeUser, uniqueMachineId, uniqueRoot } from "./helpers/mqtt-harness.ts";
import { until } from "./helpers/session-harness.ts";

/** The agent over TLS (mqtts://) to the embedded broker's TLS listener: with the CA in mqtt.caFile, and without. */
describe.runIf(hasTool("openssl"))("agent MQTT link over TLS", () => {
  const root = uniqueRoot();
  const machineId = uniqueMachineId();
  const credentials = new InMemoryMachineCredentials();
  let tls: TlsFixtures;
  let broker: EmbeddedBroker;
  let dir: string;

  beforeAll(async () => {
    tls = makeTlsFixtures();
    dir = mkdtempSync(join(tmpdir(), "vend-tls-"));
    writeFileSync(join(dir, "ca.pem"), tls.ca);
    credentials.set(machineId, { passwordHash: hashPassword("pw", { log2N: 10, r: 8, p: 1 }) });
    broker = await startEmbeddedBroker({
      rootTopic: root,
      credentials,
      bridgeUser,
      tls: { host: "127.0.0.1", port: 0, cert: tls.serverCert, key: tls.serverKey, ca: tls.ca },
      drainTimeoutMs: 10_000,
      maxTopicLevels: 16,
      logger: createLogger({ name: "broker", level: "silent" }),
    });
  });
  afterAll(async () => {
    await broker?.close();
    tls?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  function start(withCa: boolean) {
    const stream = new PassThrough();
    const lines: string[] = [];
    stream.on("data", (chunk: Buffer) => lines.push(chunk.toString()));
    const config = agentConfig({
      machineId,
      url: `mqtts://127.0.0.1:${broker.tlsPort}`,
      rootTopic: root,
      password: "pw",
      commandKey: "aa".repeat(32),
      dataDir: join(dir, withCa ? "with-ca" : "without-ca"),
    });
    if (withCa) config.mqtt.caFile = join(dir, "ca.pem");
    const agent = createAgent({
      config,
      logger: createLogger({ name: "tls", level: "info", destination: stream }),
      mechanism: new FakeMechanism(),
    });
    return { agent, lines };
  }

  it("connects and comes online with the broker's CA in mqtt.caFile", async () => {
    const { agent, lines } = start(true);
    await agent.start();
    try {
      await until(() => lines.some((line) => line.includes('"MQTT connected"')), 5_000, "connected over TLS");
      const client = (broker.aedes as unknown as { clients: Record<string, unknown> }).clients[machineId];
      expect(client).toBeDefined();
      expect(lines.join("")).not.toContain("MQTT connection failed");
    } finally {
      await agent.stop();
    }
  });

  it("without the CA, says plainly that the broker's certificate is not trusted", async () => {
    const { agent, lines } = start(false);
    await agent.start();
    try {
      await until(() => lines.some((line) => line.includes("MQTT connection failed: TLS")), 5_000, "TLS reason logged");
      expect(lines.join("")).toMatch(/mqtt\.caFile/);
    } finally {
      await agent.stop();
    }
  });
});
