import type { MqttClient } from "mqtt";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { EmbeddedBroker } from "../../backend-bridge/broker/embedded-broker.ts";
import { InMemoryMachineCredentials } from "../../backend-bridge/broker/machine-credentials.ts";
import { hashPassword } from "../../backend-bridge/broker/password-hash.ts";
import { hasTool } from "../helpers/system-tools.ts";
import { bridgeUser, connectOk, grantedQos, startTestBroker, testScryptCost, tryConnect } from "./helpers.ts";
import { makeTlsFixtures, type TlsFixtures } from "./tls-fixtures.ts";

describe.runIf(hasTool("openssl"))("embedded broker: TLS listener (certificates made by openssl)", () => {
  let tls: TlsFixtures;
  let broker: EmbeddedBroker;
  let url: string;
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    tls = makeTlsFixtures();
    const credentials = new InMemoryMachineCredentials();
    credentials.set("M1", { passwordHash: hashPassword("password-of-m1", testScryptCost) });
    credentials.set("M2", {}); // certificate only, CN = machine id
    credentials.set("M3", { certificateCn: "machine-three.example" });
    broker = await startTestBroker({
      credentials,
      tcp: undefined,
      tls: { host: "127.0.0.1", port: 0, cert: tls.serverCert, key: tls.serverKey, ca: tls.ca },
    });
    url = `mqtts://127.0.0.1:${broker.tlsPort}`;
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.endAsync(true)));
  });
  afterAll(async () => {
    await broker?.close();
    tls?.cleanup();
  });

  const secure = { ca: undefined as Buffer | undefined, rejectUnauthorized: true };
  const keep = (client: MqttClient) => {
    clients.push(client);
    return client;
  };

  it("serves only TLS when the TCP listener is off, and verifies against our CA", async () => {
    expect(broker.tcpPort).toBeUndefined();
    expect(broker.tlsPort).toBeGreaterThan(0);
    const untrusted = await tryConnect(url, { clientId: "M1", username: "M1", password: "password-of-m1" });
    expect(untrusted.ok).toBe(false);
  });

  it("accepts a machine's password over TLS and applies the same ACL", async () => {
    const client = keep(
      await connectOk(url, { ...secure, ca: tls.ca, clientId: "M1", username: "M1", password: "password-of-m1" }),
    );
    expect(await grantedQos(client, "vending/v1/M1/cmd/+")).toBe(1);
    expect(await grantedQos(client, "vending/v1/M2/cmd/+")).toBe(128);
  });

  it("accepts a client certificate whose CN is the machine id, without a password", async () => {
    const { cert, key } = tls.client("M2");
    const client = keep(await connectOk(url, { ...secure, ca: tls.ca, cert, key, clientId: "M2" }));
    expect(await grantedQos(client, "vending/v1/M2/cmd/+")).toBe(1);
    expect(await grantedQos(client, "vending/v1/M1/cmd/+")).toBe(128);
  });

  it("accepts a certificate with the machine's configured certificateCn", async () => {
    const { cert, key } = tls.client("machine-three.example");
    keep(await connectOk(url, { ...secure, ca: tls.ca, cert, key, clientId: "M3", username: "M3" }));
  });

  it("refuses a certificate of another machine, a certificate of a rogue CA, and anonymous TLS clients", async () => {
    const other = tls.client("M2");
    expect(await tryConnect(url, { ...secure, ca: tls.ca, ...other, clientId: "M1", username: "M1" })).toMatchObject({
      ok: false,
      code: 4,
    });
    const rogue = tls.client("M2", { rogue: true });
    expect(await tryConnect(url, { ...secure, ca: tls.ca, ...rogue, clientId: "M2" })).toMatchObject({
      ok: false,
      code: 5,
    });
    expect(await tryConnect(url, { ...secure, ca: tls.ca, clientId: "anything" })).toMatchObject({
      ok: false,
      code: 5,
    });
  });

  it("accepts the bridge user over TLS", async () => {
    const client = keep(await connectOk(url, { ...secure, ca: tls.ca, clientId: "bridge-tls", ...bridgeUser }));
    expect(await grantedQos(client, "vending/v1/#")).toBe(1);
  });
});
