import { writeFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { insecureChoices } from "../../backend-bridge/security/insecure-choices.ts";
import { bridgeConfigSchema } from "../../config/schema/bridge.ts";
import { makeTlsFixtures, type TlsFixtures } from "../broker/tls-fixtures.ts";
import { tempDir } from "../config/fixtures.ts";
import { minimalTestBridgeConfig } from "../helpers/bridge-test-config.ts";
import { eventually } from "../helpers/eventually.ts";
import { runProgram } from "../helpers/run-cli.ts";
import { BridgeProcess, freePort } from "./helpers/bridge-process.ts";

/**
 * Issue 18, "secure by default": a bridge given only the keys it requires never serves plain MQTT, never takes an
 * unauthenticated createPurchase and never shows /metrics to the network. Real `vend-bridge run` child processes.
 */

const requiredOnly = () => ({
  http: { publicBaseUrl: "https://vend.example.com/seqr" },
  seqr: { endpointUrl: "https://seqr.example.com/soap", terminalId: "T1", password: "s3cret-seqr-password" },
});

function writeJson(dir: string, content: unknown): string {
  const file = join(dir, "bridge.json");
  writeFileSync(file, JSON.stringify(content));
  return file;
}

/** The bridge's "bridge running" log line (pino JSON); it follows the first healthy /healthz closely. */
function runningLine(bridge: BridgeProcess): Promise<Record<string, unknown>> {
  return eventually(() => {
    const line = bridge
      .output()
      .split("\n")
      .find((text) => text.includes('"bridge running"'));
    if (!line) throw new Error(`no "bridge running" line\n${bridge.output()}`);
    return JSON.parse(line) as Record<string, unknown>;
  });
}

/** POST createPurchase over HTTPS, verifying the bridge's certificate with the test CA. */
function postCreatePurchase(
  url: string,
  ca: Buffer,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ token: "M1", amount: 20, currency: "EUR" });
    const call = request(
      url,
      { method: "POST", ca, headers: { "content-type": "application/json", ...headers } },
      (response) => {
        let text = "";
        response.on("data", (chunk) => {
          text += chunk;
        });
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body: text }));
      },
    );
    call.on("error", reject);
    call.end(body);
  });
}

describe("a bridge started from only the required keys", () => {
  it("refuses to start with exit 78, naming every key a secure start still needs", async () => {
    const file = writeJson(tempDir(), requiredOnly());
    const run = await runProgram("backend-bridge/main.ts", ["run", "--config", file]);
    expect(run.code, run.stderr).toBe(78);
    for (const key of [
      "http.certFile",
      "http.keyFile",
      "callerAuth.username",
      "callerAuth.password",
      "broker.tls.certFile",
      "broker.tls.keyFile",
    ]) {
      expect(run.stderr).toContain(`- ${key}: required`);
    }
    expect(run.stderr).toContain("refusing to start");
    // A configuration error, not a crash: no stack trace, nothing started.
    expect(run.stderr).not.toMatch(/\n\s+at /);
    expect(run.stdout).not.toContain("bridge running");
  });

  it("HTTPS without certificate files is a config error listing the keys (exit 78), not a runtime crash", async () => {
    const config = {
      ...requiredOnly(),
      http: { publicBaseUrl: "https://vend.example.com/seqr", keyFile: "/etc/vend-bridge/tls/key.pem" },
      callerAuth: { mode: "basic", username: "seqr-ups", password: "correct-horse-battery" },
      broker: { mode: "embedded", tls: { enabled: false }, tcp: { enabled: true, host: "127.0.0.1", port: 0 } },
    };
    const run = await runProgram("backend-bridge/main.ts", [
      "config",
      "check",
      "--config",
      writeJson(tempDir(), config),
    ]);
    expect(run.code).toBe(78);
    expect(run.stderr).toContain("- http.certFile: required");
    expect(run.stderr).not.toContain("http.keyFile: required");
  });
});

describe("certificate files that are named but unusable", () => {
  it("a missing file or a file that is no certificate is a config error naming the key (exit 78), not a crash", async () => {
    const dir = tempDir();
    const garbage = join(dir, "garbage.pem");
    writeFileSync(garbage, "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n");
    const config = {
      ...requiredOnly(),
      http: {
        publicBaseUrl: "https://vend.example.com/seqr",
        certFile: join(dir, "no-such-cert.pem"),
        keyFile: join(dir, "no-such-key.pem"),
      },
      callerAuth: { mode: "basic", username: "seqr-ups", password: "correct-horse-battery" },
      broker: { mode: "embedded", tls: { certFile: garbage, keyFile: garbage } },
      store: { url: `sqlite:${join(dir, "bridge.db")}` },
    };
    const run = await runProgram("backend-bridge/main.ts", ["run", "--config", writeJson(dir, config)]);
    expect(run.code, run.stderr).toBe(78);
    expect(run.stderr).toMatch(/- http\.certFile: cannot read .*no-such-cert\.pem: ENOENT/);
    expect(run.stderr).toMatch(/- http\.keyFile: cannot read .*no-such-key\.pem: ENOENT/);
    expect(run.stderr).toMatch(/- broker\.tls\.certFile: broker\.tls\.certFile and broker\.tls\.keyFile are not a PEM/);
    expect(run.stderr + run.stdout).not.toMatch(/\n\s+at /);
  });
});

describe("a bridge given certificates and caller credentials, nothing else", () => {
  let tls: TlsFixtures;
  let bridge: BridgeProcess | undefined;
  beforeAll(() => {
    tls = makeTlsFixtures();
  });
  afterEach(async () => {
    await bridge?.stop();
    bridge = undefined;
  });
  afterAll(() => tls.cleanup());

  /**
   * The required keys, the certificates and `callerAuth`; where the store goes and which ports are free are not
   * security choices, everything else is the default.
   */
  async function certifiedConfig(callerAuth: Record<string, unknown>): Promise<{ file: string; httpPort: number }> {
    const dir = tempDir();
    const httpPort = await freePort();
    const certFile = join(tls.dir, "server.pem");
    const keyFile = join(tls.dir, "server.key");
    const file = writeJson(dir, {
      ...requiredOnly(),
      http: { port: httpPort, certFile, keyFile, publicBaseUrl: "https://vend.example.com/seqr" },
      callerAuth,
      broker: { mode: "embedded", tls: { port: 0, certFile, keyFile } },
      store: { url: `sqlite:${join(dir, "bridge.db")}` },
    });
    return { file, httpPort };
  }

  it("starts with caller authentication on, MQTT over TLS only and /metrics on loopback only", async () => {
    const { file, httpPort } = await certifiedConfig({ username: "seqr-ups", password: "correct-horse-battery" });
    bridge = await BridgeProcess.start(file, httpPort);
    const running = await runningLine(bridge);
    expect(running.callerAuth).toBe("basic");
    expect(running.mqtt).toEqual({ tls: expect.any(Number) });
    expect(String(running.admin)).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(bridge.output()).not.toContain("insecure configuration");
    // The bridge's own link reaches its TLS-only broker (verifying the server certificate it serves).
    expect(bridge.output()).toContain("subscribed to the fleet");

    const api = `https://127.0.0.1:${httpPort}`;
    const anonymous = await postCreatePurchase(`${api}/seqr/createPurchase`, tls.ca);
    expect(anonymous.status).toBe(401);
    const metrics = await new Promise<number>((resolve, reject) => {
      request(`${api}/metrics`, { ca: tls.ca }, (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      })
        .on("error", reject)
        .end();
    });
    expect(metrics).toBe(404);
    const adminMetrics = await fetch(`${String(running.admin)}/metrics`);
    expect(adminMetrics.status).toBe(200);
    // Above the bridge's own start-up deadline (60 s): a loaded machine fails that deadline with its evidence.
  }, 240_000);

  it("callerAuth none only when chosen, and then a warning at every start", async () => {
    const { file, httpPort } = await certifiedConfig({ mode: "none" });
    for (let start = 1; start <= 2; start++) {
      bridge = await BridgeProcess.start(file, httpPort);
      await runningLine(bridge);
      const warnings = bridge
        .output()
        .split("\n")
        .filter((line) => line.includes("insecure configuration: callerAuth.mode: none"));
      expect(warnings, `start ${start}`).toHaveLength(1);
      expect(JSON.parse(warnings[0] ?? "{}")).toMatchObject({ level: "warn" });
      await bridge.stop();
    }
  }, 240_000);
});

describe("insecureChoices (what the bridge warns about at every start, and the demo prints)", () => {
  it("names each protection turned off by its key, and nothing for a secure configuration", () => {
    const insecure = bridgeConfigSchema.parse({ ...minimalTestBridgeConfig(), admin: { host: "0.0.0.0" } });
    expect(insecureChoices(insecure).map((choice) => choice.key)).toEqual([
      "callerAuth.mode: none",
      "http.plainHttp: true",
      "broker.tcp.enabled: true",
      "admin.host: 0.0.0.0",
    ]);
    const secure = bridgeConfigSchema.parse({
      ...requiredOnly(),
      http: { publicBaseUrl: "https://vend.example.com/seqr", certFile: "c.pem", keyFile: "k.pem" },
      callerAuth: { username: "seqr-ups", password: "correct-horse-battery" },
      broker: { mode: "embedded", tls: { certFile: "c.pem", keyFile: "k.pem" } },
    });
    expect(insecureChoices(secure)).toEqual([]);
    const external = bridgeConfigSchema.parse({
      ...requiredOnly(),
      http: { publicBaseUrl: "https://vend.example.com/seqr", certFile: "c.pem", keyFile: "k.pem" },
      callerAuth: { username: "seqr-ups", password: "correct-horse-battery" },
      broker: { mode: "external", url: "mqtt://broker.example:1883" },
    });
    expect(insecureChoices(external).map((choice) => choice.key)).toEqual(["broker.url: mqtt://"]);
  });
});
