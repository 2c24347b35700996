import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import type { BridgeConfig } from "../../config/schema/bridge.ts";
import type { EmbeddedBroker } from "../broker/embedded-broker.ts";
import type { MqttFleetLinkOptions } from "./mqtt-fleet-link.ts";

/**
 * Where the fleet link connects: the embedded broker over loopback (plain TCP when enabled, else its TLS listener
 * with the server's own certificate as the trusted CA), or the external broker's URL with a shared subscription.
 */
export type FleetConnection = Pick<
  MqttFleetLinkOptions,
  "url" | "username" | "password" | "ca" | "servername" | "trustCaAsAnchor" | "sharedSubscriptionGroup" | "rootTopic"
>;

function loopback(host: string): string {
  return host === "0.0.0.0" || host === "::" || host === "" ? "127.0.0.1" : host;
}

function certificateName(pem: Buffer): { servername?: string } {
  const x509 = new X509Certificate(pem);
  const dns = x509.subjectAltName
    ?.split(",")
    .map((entry) => entry.trim())
    .find((entry) => entry.startsWith("DNS:"));
  const name = dns?.slice(4) ?? /CN=([^\n,]+)/.exec(x509.subject)?.[1];
  return name ? { servername: name } : {};
}

export function fleetConnectionFromConfig(
  config: BridgeConfig,
  bridgePassword: string | undefined,
  embedded: EmbeddedBroker | undefined,
  readFile: (path: string) => Buffer = (path) => readFileSync(path),
): FleetConnection {
  const base = {
    rootTopic: config.bridgeMqtt.rootTopic,
    username: config.bridgeMqtt.username,
    ...(bridgePassword !== undefined ? { password: bridgePassword } : {}),
  };
  const broker = config.broker;
  if (broker.mode === "external") {
    return {
      ...base,
      url: broker.url,
      sharedSubscriptionGroup: broker.sharedSubscriptionGroup,
      ...(broker.caFile ? { ca: readFile(broker.caFile) } : {}),
    };
  }
  if (!embedded) throw new Error("broker.mode is embedded but no embedded broker was started");
  if (embedded.tcpPort !== undefined) {
    return { ...base, url: `mqtt://${loopback(broker.tcp.host)}:${embedded.tcpPort}` };
  }
  if (embedded.tlsPort !== undefined && broker.tls.certFile) {
    const cert = readFile(broker.tls.certFile);
    return {
      ...base,
      url: `mqtts://${loopback(broker.tls.host)}:${embedded.tlsPort}`,
      ca: cert,
      // A server certificate signed by a CA is no root: trust it as the anchor (the bridge pins its own certificate).
      trustCaAsAnchor: true,
      // Loopback is not the name in the certificate: check the certificate against its own first DNS name.
      ...certificateName(cert),
    };
  }
  throw new Error("the embedded broker has no listener the bridge can reach");
}
