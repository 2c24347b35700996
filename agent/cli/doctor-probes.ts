import { execFile } from "node:child_process";
import { accessSync, constants, existsSync, readFileSync } from "node:fs";
import { open, rm, statfs } from "node:fs/promises";
import { connect as tcpConnect } from "node:net";
import { userInfo } from "node:os";
import { dirname, join, resolve } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { probePort } from "../../hardware/serial/probe-port.ts";
import { diagnosticClientId } from "../../protocol/client-ids.ts";
import type { DoctorProbes } from "./doctor-checks.ts";
import { runMqttCheck } from "./mqtt-check.ts";

/** The real probes behind `vend-agent doctor`: this machine's file system, devices, clock, groups and broker. */

function run(command: string, args: string[]): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: 5_000, encoding: "utf8" }, (error, stdout) => {
      const code = error
        ? typeof (error as { code?: unknown }).code === "number"
          ? (error as { code: number }).code
          : null
        : 0;
      resolve({ code, stdout: stdout ?? "" });
    });
  });
}

/** Group names by gid from /etc/group (no getgrgid in Node). */
function groupNames(): Map<number, string> {
  const names = new Map<number, string>();
  try {
    for (const line of readFileSync("/etc/group", "utf8").split("\n")) {
      const [name, , gid] = line.split(":");
      if (name && gid) names.set(Number(gid), name);
    }
  } catch {
    // no /etc/group: names stay unknown
  }
  return names;
}

function nearestExisting(path: string): string {
  let current = resolve(path);
  while (!existsSync(current) && dirname(current) !== current) current = dirname(current);
  return current;
}

function writable(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function systemProbes(): DoctorProbes {
  return {
    dataDirStatus: async (dir) => {
      if (!existsSync(dir)) {
        const ancestor = nearestExisting(dir);
        return { state: "missing", ancestor, creatable: writable(ancestor) };
      }
      const probe = join(dir, `.doctor-${process.pid}`);
      try {
        const handle = await open(probe, "w");
        try {
          await handle.writeFile("doctor\n");
          await handle.sync();
        } finally {
          await handle.close();
        }
        await rm(probe, { force: true });
        return { state: "writable" };
      } catch (error) {
        return { state: "error", error: (error as Error).message };
      }
    },
    freeBytes: async (dir) => {
      try {
        const stats = await statfs(dir);
        return stats.bavail * stats.bsize;
      } catch {
        return undefined;
      }
    },
    pathExists: (path) => existsSync(path),
    probeSerial: (path, protocol, baudRate) => probePort(path, { protocol, ...(baudRate ? { baudRate } : {}) }),
    gpioSysfs: () => {
      const present = existsSync("/sys/class/gpio");
      let exportWritable = false;
      try {
        accessSync("/sys/class/gpio/export", constants.W_OK);
        exportWritable = true;
      } catch {
        // not writable
      }
      return { present, exportWritable };
    },
    identity: () => {
      const names = groupNames();
      const groups = (process.getgroups?.() ?? []).map((gid) => names.get(gid) ?? String(gid));
      return { user: userInfo().username, groups, root: process.getuid?.() === 0 };
    },
    groupExists: (name) => [...groupNames().values()].includes(name),
    agentRunning: async () => {
      const result = await run("systemctl", ["is-active", "--quiet", "vend-agent"]);
      if (result.code === null) return undefined; // no systemctl (container, non-systemd)
      return result.code === 0;
    },
    now: () => Date.now(),
    clockSynchronized: async () => {
      const result = await run("timedatectl", ["show", "-p", "NTPSynchronized", "--value"]);
      if (result.code !== 0) return undefined;
      const value = result.stdout.trim();
      return value === "yes" ? true : value === "no" ? false : undefined;
    },
    mqttCheck: (config) =>
      runMqttCheck({
        mqtt: config.mqtt,
        machineId: config.machine.id,
        clientId: diagnosticClientId(config.machine.id, "doctor"),
      }),
    brokerReachable: (config) => brokerReachable(config.mqtt.url, config.mqtt.caFile),
  };
}

export function brokerReachable(
  url: string,
  caFile: string | undefined,
  timeoutMs = 5_000,
): Promise<{ ok: true; ms: number } | { ok: false; error: string }> {
  const parsed = new URL(url);
  const secure = parsed.protocol === "mqtts:";
  const port = Number(parsed.port || (secure ? 8883 : 1883));
  const host = parsed.hostname;
  const started = performance.now();
  return new Promise((resolve) => {
    const socket = secure
      ? tlsConnect({
          host,
          port,
          servername: host,
          ...(caFile && existsSync(caFile) ? { ca: readFileSync(caFile) } : {}),
        })
      : tcpConnect({ host, port });
    const done = (result: { ok: true; ms: number } | { ok: false; error: string }) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(timeoutMs, () =>
      done({ ok: false, error: `no answer from ${host}:${port} within ${timeoutMs} ms` }),
    );
    socket.once(secure ? "secureConnect" : "connect", () =>
      done({ ok: true, ms: Math.round(performance.now() - started) }),
    );
    socket.once("error", (error) => done({ ok: false, error: `${host}:${port}: ${error.message}` }));
  });
}
