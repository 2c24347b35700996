import type { BridgeConfig } from "../../config/schema/bridge.ts";

/**
 * The protections a configuration turns off, each named by the key that did it and what an attacker gains. The bridge
 * logs each one as a warning at every start (issue 18: `none` only when explicitly chosen, and never silently); the
 * demo prints them so that a newcomer sees what the one-command setup gives up and why.
 */
export interface InsecureChoice {
  key: string;
  turnsOff: string;
}

const loopbackHosts = new Set(["127.0.0.1", "::1", "localhost"]);

export function isLoopbackHost(host: string): boolean {
  return loopbackHosts.has(host) || host.startsWith("127.");
}

export function insecureChoices(config: BridgeConfig): InsecureChoice[] {
  const choices: InsecureChoice[] = [];
  if (config.callerAuth.mode === "none") {
    choices.push({
      key: "callerAuth.mode: none",
      turnsOff:
        "createPurchase caller authentication: anyone who reaches the API can hold machines and create invoices, unless a reverse proxy authenticates SEQR's UPS",
    });
  }
  if (config.http.plainHttp) {
    choices.push({
      key: "http.plainHttp: true",
      turnsOff:
        "HTTPS: requests and notification URLs travel in clear, unless a TLS-terminating reverse proxy is in front",
    });
  }
  if (config.broker.mode === "embedded" && config.broker.tcp.enabled) {
    choices.push({
      key: "broker.tcp.enabled: true",
      turnsOff: `MQTT over TLS on ${config.broker.tcp.host}:${config.broker.tcp.port}: machine passwords and commands travel in clear`,
    });
  }
  if (config.broker.mode === "external" && config.broker.url.startsWith("mqtt:")) {
    choices.push({
      key: `broker.url: ${new URL(config.broker.url).protocol}//`,
      turnsOff: "TLS to the fleet's broker: the bridge's password and every command travel in clear",
    });
  }
  if (!isLoopbackHost(config.admin.host)) {
    choices.push({
      key: `admin.host: ${config.admin.host}`,
      turnsOff: "a loopback-only /metrics and /healthz: anyone who reaches the port reads the fleet's figures",
    });
  }
  return choices;
}
