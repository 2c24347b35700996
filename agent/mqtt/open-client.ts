import { isIP, connect as tcpConnect } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { type IClientOptions, MqttClient } from "mqtt";

/**
 * Opens an MQTT client for an mqtt:// or mqtts:// URL (the only schemes the agent's config takes) over a TCP or TLS
 * socket of our own. mqtt.connect() would open the same sockets, but its first call loads the stream builders of
 * every transport it knows (WebSocket, SOCKS proxies: ws, socks, ip-address, readable-stream), about 9 MB that an
 * idle agent would keep for nothing (issue 20).
 */
export function openMqttClient(url: string, options: IClientOptions): MqttClient {
  const parsed = new URL(url);
  const secure = parsed.protocol === "mqtts:";
  const host = parsed.hostname.replace(/^\[(.*)\]$/, "$1"); // an IPv6 literal without its brackets
  const port = parsed.port === "" ? (secure ? 8883 : 1883) : Number(parsed.port);
  const openSocket = () => {
    if (!secure) return tcpConnect({ host, port });
    return tlsConnect({
      host,
      port,
      ...(isIP(host) === 0 ? { servername: host } : {}),
      ...(options.ca ? { ca: options.ca } : {}),
      ...(options.cert ? { cert: options.cert } : {}),
      ...(options.key ? { key: options.key } : {}),
      rejectUnauthorized: true,
    });
  };
  return new MqttClient(openSocket, { ...options, host, port, protocol: secure ? "mqtts" : "mqtt" });
}
