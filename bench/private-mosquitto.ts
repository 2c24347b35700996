/**
 * A private Mosquitto for a bench, configured like docs/external-mosquitto.md: the password file and pattern ACL that
 * `vend-bridge machines export-mosquitto` writes (backend-bridge/broker/mosquitto-files.ts), TCP_NODELAY, the
 * bridge's queue sized for the fleet's burst. Loopback only, no persistence.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, mkdirSync, openSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hashMachineSecret } from "../backend-bridge/broker/machine-secret.ts";
import {
  type MosquittoLogin,
  mosquittoAclFile,
  mosquittoPasswordFile,
} from "../backend-bridge/broker/mosquitto-files.ts";
import { canConnect } from "../test/helpers/system-tools.ts";
import { benchRoot, waitUntil } from "./fleet-sim.ts";

export interface PrivateMosquittoOptions {
  /** A fresh directory for its files. */
  dir: string;
  port: number;
  rootTopic: string;
  bridgeUser: { username: string; password: string };
  machines: MosquittoLogin[];
  /** With BENCH_DEBUG, Mosquitto's notices go to bench/results/<logName>. */
  logName: string;
}

export async function startPrivateMosquitto(options: PrivateMosquittoOptions): Promise<ChildProcess> {
  const { dir } = options;
  // Started as root, Mosquitto reads its password and ACL files after it has become the `mosquitto` user.
  chmodSync(dir, 0o755);
  // The files `vend-bridge machines export-mosquitto` writes, from the same hashes the store holds.
  writeFileSync(
    join(dir, "passwd"),
    mosquittoPasswordFile([
      { username: options.bridgeUser.username, passwordHash: hashMachineSecret(options.bridgeUser.password) },
      ...options.machines,
    ]),
  );
  writeFileSync(join(dir, "acl"), mosquittoAclFile(options.rootTopic, options.bridgeUser.username));
  writeFileSync(
    join(dir, "mosquitto.conf"),
    [
      `listener ${options.port} 127.0.0.1`,
      "allow_anonymous false",
      `password_file ${join(dir, "passwd")}`,
      `acl_file ${join(dir, "acl")}`,
      "set_tcp_nodelay true",
      "persistence false",
      // As docs/external-mosquitto.md: the bridge's queue holds the whole fleet's burst after a restart.
      "max_inflight_messages 20",
      "max_queued_messages 50000",
      "log_dest stderr",
      "log_type error",
      // With BENCH_DEBUG, Mosquitto's notices (among them "Outgoing messages are being dropped for client ...")
      // go to bench/results/<logName>.
      ...(process.env.BENCH_DEBUG ? ["log_type warning", "log_type notice"] : []),
      "",
    ].join("\n"),
  );
  if (process.env.BENCH_DEBUG) mkdirSync(join(benchRoot, "bench", "results"), { recursive: true });
  const log = process.env.BENCH_DEBUG ? openSync(join(benchRoot, "bench", "results", options.logName), "w") : "ignore";
  const mosquitto = spawn("mosquitto", ["-c", join(dir, "mosquitto.conf")], { stdio: ["ignore", "ignore", log] });
  await waitUntil("mosquitto", () => canConnect("127.0.0.1", options.port, 500), 20_000);
  return mosquitto;
}
