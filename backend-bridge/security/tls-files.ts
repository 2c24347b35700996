import { readFileSync } from "node:fs";
import { createSecureContext } from "node:tls";
import type { ConfigProblem } from "../../config/load.ts";
import type { BridgeConfig } from "../../config/schema/bridge.ts";

/**
 * The certificate and key files the configuration names, checked before anything starts: a file that cannot be read
 * or a pair TLS cannot use is a configuration problem naming its key (exit 78), not a crash with a stack trace once
 * the listener is being built (exit 69, issue 18). Readers are injected so the decision stays testable.
 */
export function tlsFileProblems(
  config: BridgeConfig,
  read: (path: string) => Buffer = (path) => readFileSync(path),
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const contents = new Map<string, Buffer>();
  const load = (key: string, path: string | undefined, what: string) => {
    if (path === undefined) return;
    try {
      contents.set(key, read(path));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      problems.push({
        path: key,
        value: path,
        source: undefined,
        message: `cannot read ${path}: ${code ?? (error as Error).message}`,
        expected: what,
      });
    }
  };
  const pair = (certKey: string, keyKey: string) => {
    const cert = contents.get(certKey);
    const key = contents.get(keyKey);
    if (!cert || !key) return;
    try {
      createSecureContext({ cert, key });
    } catch (error) {
      problems.push({
        path: certKey,
        value: undefined,
        source: undefined,
        message: `${certKey} and ${keyKey} are not a PEM certificate and its private key: ${(error as Error).message}`,
        expected: "a PEM certificate and the PEM private key that belongs to it",
      });
    }
  };
  if (!config.http.plainHttp) {
    load("http.certFile", config.http.certFile, "PEM server certificate (HTTPS)");
    load("http.keyFile", config.http.keyFile, "PEM server key (HTTPS)");
    pair("http.certFile", "http.keyFile");
  }
  load("http.caFile", config.http.caFile, "PEM CA for createPurchase client certificates");
  const broker = config.broker;
  if (broker.mode === "embedded" && broker.tls.enabled) {
    load("broker.tls.certFile", broker.tls.certFile, "PEM server certificate");
    load("broker.tls.keyFile", broker.tls.keyFile, "PEM server key");
    load("broker.tls.caFile", broker.tls.caFile, "PEM CA for client certificates");
    pair("broker.tls.certFile", "broker.tls.keyFile");
  }
  if (broker.mode === "external") load("broker.caFile", broker.caFile, "PEM CA of the broker");
  return problems;
}
