import { readFileSync } from "node:fs";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import type { AgentConfig } from "../../config/schema/agent.ts";
import { redactUrlCredentials } from "../../platform/redact.ts";
import { diagnosticClientId } from "../../protocol/client-ids.ts";
import { machineTopics } from "../../protocol/topics.ts";
import { describeConnectError } from "../mqtt/connect-errors.ts";
import { withTimeout } from "./with-timeout.ts";

/**
 * `vend-agent mqtt check`: connects with the agent's own settings and credentials, subscribes to the machine's command
 * topics (what the broker's ACL must allow), and measures the broker round trip with MQTT pings. Failures keep the
 * broker's or the TLS stack's own words (verbatim) next to our explanation, because that is what support searches for.
 *
 * Why pings and not a publish to self: a machine's ACL lets it publish only availability/state/events and subscribe
 * only to its commands, so nothing it may publish comes back to it; publishing to its retained state would overwrite
 * what the backend sees. No will is set either, so a check never announces the machine offline.
 */

export interface MqttCheckStep {
  name: "connect" | "subscribe" | "round-trip";
  ok: boolean;
  ms?: number;
  detail: string;
  /** The error exactly as the broker / TLS / socket layer gave it. */
  verbatim?: string;
  /** The broker's CONNACK return code when it refused the login. */
  connackCode?: number;
}

export interface MqttCheckReport {
  ok: boolean;
  url: string;
  clientId: string;
  username: string;
  steps: MqttCheckStep[];
  /** Median of the ping round trips, ms. */
  latencyMs?: number;
}

export interface MqttCheckOptions {
  mqtt: AgentConfig["mqtt"];
  machineId: string;
  /** Default: the check's own id (protocol/client-ids.ts), never the machine's, so a live agent stays connected. */
  clientId?: string;
  pings?: number;
  timeoutMs?: number;
  now?: () => number;
  connect?: (url: string, options: IClientOptions) => MqttClient;
}

function readPem(key: string, file: string | undefined): Buffer | undefined {
  if (!file) return undefined;
  try {
    return readFileSync(file);
  } catch (error) {
    throw new Error(`mqtt.${key}: cannot read ${file}: ${(error as Error).message}`);
  }
}

function verbatim(error: unknown): string {
  const err = error as { message?: string; code?: unknown };
  return `${err?.message ?? String(error)}${typeof err?.code === "string" && !String(err.message).includes(err.code) ? ` (${err.code})` : ""}`;
}

export async function runMqttCheck(options: MqttCheckOptions): Promise<MqttCheckReport> {
  const now = options.now ?? (() => performance.now());
  const timeoutMs = options.timeoutMs ?? 10_000;
  const m = options.mqtt;
  const clientId = options.clientId ?? diagnosticClientId(options.machineId, "check");
  const username = m.username ?? options.machineId;
  const report: MqttCheckReport = {
    ok: false,
    url: redactUrlCredentials(m.url),
    clientId,
    username,
    steps: [],
  };
  let clientOptions: IClientOptions;
  try {
    const ca = readPem("caFile", m.caFile);
    const cert = readPem("certFile", m.certFile);
    const key = readPem("keyFile", m.keyFile);
    clientOptions = {
      clientId,
      username,
      clean: true,
      keepalive: m.keepaliveSeconds,
      reconnectPeriod: 0,
      connectTimeout: timeoutMs,
      protocolVersion: 4,
      ...(m.password ? { password: m.password } : {}),
      ...(ca ? { ca } : {}),
      ...(cert ? { cert } : {}),
      ...(key ? { key } : {}),
    };
  } catch (error) {
    report.steps.push({ name: "connect", ok: false, detail: (error as Error).message });
    return report;
  }

  const connect = options.connect ?? ((url, opts) => mqtt.connect(url, opts));
  const started = now();
  const client = connect(m.url, clientOptions);
  try {
    const connected = await new Promise<{ ok: true } | { ok: false; error: unknown }>((resolve) => {
      const timer = setTimeout(
        () => resolve({ ok: false, error: new Error(`no CONNACK within ${timeoutMs} ms`) }),
        timeoutMs,
      );
      client.once("connect", () => {
        clearTimeout(timer);
        resolve({ ok: true });
      });
      client.once("error", (error) => {
        clearTimeout(timer);
        resolve({ ok: false, error });
      });
      client.once("close", () => {
        clearTimeout(timer);
        resolve({ ok: false, error: new Error("the broker closed the connection before CONNACK") });
      });
    });
    if (!connected.ok) {
      const code = (connected.error as { code?: unknown }).code;
      report.steps.push({
        name: "connect",
        ok: false,
        detail: describeConnectError(connected.error, report.url),
        verbatim: verbatim(connected.error),
        ...(typeof code === "number" ? { connackCode: code } : {}),
      });
      return report;
    }
    report.steps.push({ name: "connect", ok: true, ms: round(now() - started), detail: `connected as ${username}` });

    const filter = machineTopics(m.rootTopic, options.machineId).commandFilter;
    const subscribeStarted = now();
    const granted = await withTimeout(
      client.subscribeAsync(filter, { qos: 1 }),
      timeoutMs,
      `no SUBACK within ${timeoutMs} ms`,
    );
    const grant = granted[0];
    if (!grant || grant.qos === 128) {
      report.steps.push({
        name: "subscribe",
        ok: false,
        detail: `the broker refused the subscription to ${filter}: its ACL must let machine ${options.machineId} subscribe to its own commands`,
      });
      return report;
    }
    report.steps.push({
      name: "subscribe",
      ok: true,
      ms: round(now() - subscribeStarted),
      detail: `${filter} granted QoS ${grant.qos}`,
    });
    await client.unsubscribeAsync(filter);

    const samples: number[] = [];
    for (let index = 0; index < (options.pings ?? 5); index++) samples.push(await ping(client, now, timeoutMs));
    samples.sort((a, b) => a - b);
    report.latencyMs = round(samples[Math.floor(samples.length / 2)] ?? 0);
    report.steps.push({
      name: "round-trip",
      ok: true,
      ms: report.latencyMs,
      detail: `${samples.length} pings, median ${report.latencyMs} ms, max ${round(samples[samples.length - 1] ?? 0)} ms`,
    });
    report.ok = true;
    return report;
  } catch (error) {
    const step = report.steps.length === 1 ? "subscribe" : "round-trip";
    report.steps.push({
      name: step,
      ok: false,
      detail: describeConnectError(error, report.url),
      verbatim: verbatim(error),
    });
    return report;
  } finally {
    await client.endAsync(true).catch(() => {});
  }
}

function ping(client: MqttClient, now: () => number, timeoutMs: number): Promise<number> {
  return withTimeout(
    new Promise<number>((resolve) => {
      const started = now();
      const onPacket = (packet: { cmd: string }) => {
        if (packet.cmd !== "pingresp") return;
        client.off("packetreceive", onPacket);
        resolve(now() - started);
      };
      client.on("packetreceive", onPacket);
      client.sendPing();
    }),
    timeoutMs,
    `no PINGRESP within ${timeoutMs} ms`,
  );
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
