import type { AgentConfig } from "../../config/schema/agent.ts";
import type { MqttCheckReport } from "./mqtt-check.ts";

/**
 * `vend-agent doctor`: every check a technician needs before calling support, each failure with its fix. The checks are
 * pure functions of injected probes (file system, serial, broker, clock, groups), so tests can put any machine's
 * condition in place; doctor-probes.ts holds the real probes.
 */

export type CheckStatus = "ok" | "warn" | "fail" | "skip";

export interface CheckResult {
  id: "config" | "data-dir" | "disk-space" | "hardware" | "groups" | "clock" | "broker";
  title: string;
  status: CheckStatus;
  detail: string;
  /** What to do about a warn or fail, copy-pasteable where possible. */
  fix?: string;
}

export type DataDirStatus =
  | { state: "writable" }
  | { state: "missing" /** The nearest directory above it that exists. */; ancestor: string; creatable: boolean }
  | { state: "error"; error: string };

export interface SerialProbeOutcome {
  ok: boolean;
  errorKind?: string;
  message: string;
}

export interface DoctorProbes {
  /**
   * An existing data directory can be written and fsynced (a probe file is written and removed); a missing one is
   * left missing (a diagnosis changes nothing) and reported with whether the agent could create it.
   */
  dataDirStatus(dir: string): Promise<DataDirStatus>;
  freeBytes(dir: string): Promise<number | undefined>;
  pathExists(path: string): boolean;
  probeSerial(path: string, protocol: "qibixx" | "fafb", baudRate: number | undefined): Promise<SerialProbeOutcome>;
  /** /sys/class/gpio present, and whether its export file may be written by this user. */
  gpioSysfs(): { present: boolean; exportWritable: boolean };
  /** Names of the current process's groups, and whether it runs as root. */
  identity(): { user: string; groups: string[]; root: boolean };
  groupExists(name: string): boolean;
  /** Whether the vend-agent service is running (systemd), undefined when it cannot be told. */
  agentRunning(): Promise<boolean | undefined>;
  now(): number;
  /** timedatectl's NTPSynchronized, undefined when it cannot be told. */
  clockSynchronized(): Promise<boolean | undefined>;
  mqttCheck(config: AgentConfig): Promise<MqttCheckReport>;
  /** TCP (and TLS) reachability of the broker without logging in: used while the running agent holds the session. */
  brokerReachable(config: AgentConfig): Promise<{ ok: true; ms: number } | { ok: false; error: string }>;
}

/** Any clock before this is wrong: TLS certificates and command expiry (expiresAt) would fail. */
export const clockFloorMs = Date.UTC(2025, 0, 1);
export const diskFailBytes = 20 * 1024 * 1024;
export const diskWarnBytes = 200 * 1024 * 1024;

function megabytes(bytes: number): string {
  return `${Math.round(bytes / 1024 / 1024)} MB`;
}

export async function checkDataDir(config: AgentConfig, probes: DoctorProbes): Promise<CheckResult> {
  const title = "data directory writable";
  const fix = `sudo install -d -m 0750 -o vend-agent -g vend-agent ${config.dataDir}   (or set dataDir to a writable directory)`;
  const result = await probes.dataDirStatus(config.dataDir);
  switch (result.state) {
    case "writable":
      return { id: "data-dir", title, status: "ok", detail: `${config.dataDir} is writable (fsync works)` };
    case "missing":
      return result.creatable
        ? {
            id: "data-dir",
            title,
            status: "ok",
            detail: `${config.dataDir} does not exist yet; the agent creates it at its start (${result.ancestor} is writable)`,
          }
        : {
            id: "data-dir",
            title,
            status: "fail",
            detail: `${config.dataDir} does not exist yet and cannot be created here (${result.ancestor} is not writable)`,
            fix,
          };
    case "error":
      return { id: "data-dir", title, status: "fail", detail: `${config.dataDir}: ${result.error}`, fix };
  }
}

export async function checkDiskSpace(config: AgentConfig, probes: DoctorProbes): Promise<CheckResult> {
  const title = "disk space";
  const free = await probes.freeBytes(config.dataDir);
  if (free === undefined) {
    return {
      id: "disk-space",
      title,
      status: "skip",
      detail: `cannot tell the free space at ${config.dataDir} (it does not exist yet)`,
    };
  }
  const fix = "free space on the SD card (sudo journalctl --vacuum-size=50M; sudo apt-get clean)";
  if (free < diskFailBytes) {
    return {
      id: "disk-space",
      title,
      status: "fail",
      detail: `only ${megabytes(free)} free at ${config.dataDir}: the journal may fail to write`,
      fix,
    };
  }
  if (free < diskWarnBytes)
    return { id: "disk-space", title, status: "warn", detail: `${megabytes(free)} free at ${config.dataDir}`, fix };
  return { id: "disk-space", title, status: "ok", detail: `${megabytes(free)} free at ${config.dataDir}` };
}

export async function checkHardware(
  config: AgentConfig,
  probes: DoctorProbes,
  agentRunning: boolean | undefined,
): Promise<CheckResult> {
  const hardware = config.hardware;
  switch (hardware.driver) {
    case "simulator":
      return {
        id: "hardware",
        title: "vend mechanism",
        status: "ok",
        detail: `simulator (${hardware.simulate}): no hardware to check`,
      };
    case "gpio": {
      const title = "GPIO (sysfs)";
      const gpio = probes.gpioSysfs();
      if (!gpio.present) {
        return {
          id: "hardware",
          title,
          status: "fail",
          detail: "/sys/class/gpio is missing: this kernel has no sysfs GPIO interface",
          fix: "enable CONFIG_GPIO_SYSFS (Raspberry Pi OS has it), or use a serial spiral board",
        };
      }
      if (!gpio.exportWritable) {
        return {
          id: "hardware",
          title,
          status: "fail",
          detail: "/sys/class/gpio/export is not writable by this user",
          fix: "sudo usermod -aG gpio $USER (log in again); for the service: SupplementaryGroups=gpio",
        };
      }
      return { id: "hardware", title, status: "ok", detail: "/sys/class/gpio present and writable" };
    }
    case "mdb":
    case "spiral-board": {
      const { path, baudRate } = hardware.serial;
      const title = `serial port (${hardware.driver})`;
      if (!probes.pathExists(path)) {
        return {
          id: "hardware",
          title,
          status: "fail",
          detail: `${path} does not exist`,
          fix: "plug the adapter in, then run `vend-agent ports` and set hardware.serial.path to its /dev/serial/by-id/... link",
        };
      }
      const outcome = await probes.probeSerial(path, hardware.driver === "mdb" ? "qibixx" : "fafb", baudRate);
      if (outcome.ok) return { id: "hardware", title, status: "ok", detail: outcome.message };
      if (outcome.errorKind === "locked" && agentRunning) {
        return {
          id: "hardware",
          title,
          status: "ok",
          detail: `${path} is held by the running vend-agent (as it should be)`,
        };
      }
      const fixes: Record<string, string> = {
        permission: "sudo usermod -aG dialout $USER (log in again); for the service: SupplementaryGroups=dialout",
        locked: `stop whatever holds it: fuser -v ${path}`,
        missing: "plug the adapter in and check `vend-agent ports`",
        "no-answer": "check the wiring, the adapter's power and hardware.serial.baudRate",
      };
      return {
        id: "hardware",
        title,
        status: "fail",
        detail: outcome.message,
        fix: fixes[outcome.errorKind ?? ""] ?? "see the message above",
      };
    }
  }
}

export function checkGroups(config: AgentConfig, probes: DoctorProbes): CheckResult {
  const title = "group membership";
  const identity = probes.identity();
  const needed =
    config.hardware.driver === "mdb" || config.hardware.driver === "spiral-board"
      ? ["dialout"]
      : config.hardware.driver === "gpio"
        ? ["gpio"]
        : [];
  if (needed.length === 0) return { id: "groups", title, status: "ok", detail: "the simulator needs no device groups" };
  if (identity.root)
    return { id: "groups", title, status: "ok", detail: "running as root (the service itself should not)" };
  const missing = needed.filter((group) => !identity.groups.includes(group));
  if (missing.length === 0)
    return { id: "groups", title, status: "ok", detail: `${identity.user} is in ${needed.join(", ")}` };
  const unknown = missing.filter((group) => !probes.groupExists(group));
  return {
    id: "groups",
    title,
    // A group this system does not have (no 'gpio' on a plain Debian) cannot be joined: a warning, not a failure.
    status: unknown.length === missing.length ? "warn" : "fail",
    detail: `${identity.user} is not in ${missing.join(", ")}${unknown.length ? ` (${unknown.join(", ")} does not exist here)` : ""}`,
    fix: `sudo usermod -aG ${missing.join(",")} ${identity.user} (log in again); the systemd unit has SupplementaryGroups=dialout gpio`,
  };
}

export async function checkClock(probes: DoctorProbes): Promise<CheckResult> {
  const title = "clock";
  const now = probes.now();
  const iso = new Date(now).toISOString();
  if (now < clockFloorMs) {
    return {
      id: "clock",
      title,
      status: "fail",
      detail: `the clock says ${iso}: TLS and command expiry will fail`,
      fix: "sudo timedatectl set-ntp true (a Pi has no RTC: it needs the network at boot, or an RTC hat)",
    };
  }
  const synced = await probes.clockSynchronized();
  if (synced === false) {
    return {
      id: "clock",
      title,
      status: "warn",
      detail: `${iso}, not NTP-synchronized`,
      fix: "sudo timedatectl set-ntp true",
    };
  }
  return {
    id: "clock",
    title,
    status: "ok",
    detail: `${iso}${synced ? ", NTP-synchronized" : " (synchronization unknown)"}`,
  };
}

export async function checkBroker(
  config: AgentConfig,
  probes: DoctorProbes,
  agentRunning: boolean | undefined,
): Promise<CheckResult> {
  const title = "MQTT broker";
  if (agentRunning) {
    // Logging in as the machine would take the running agent's session over (the broker drops one of the two).
    const reachable = await probes.brokerReachable(config);
    if (reachable.ok) {
      return {
        id: "broker",
        title,
        status: "ok",
        detail: `${config.mqtt.url} reachable in ${reachable.ms} ms (login not tested: the agent is running and connected as ${config.machine.id})`,
      };
    }
    return {
      id: "broker",
      title,
      status: "fail",
      detail: reachable.error,
      fix: "check mqtt.url, the network and the firewall",
    };
  }
  const report = await probes.mqttCheck(config);
  if (report.ok)
    return {
      id: "broker",
      title,
      status: "ok",
      detail: `${report.url}: login, subscribe and ping ok, ${report.latencyMs} ms`,
    };
  const failed = report.steps.find((step) => !step.ok);
  if (failed?.name === "connect" && failed.connackCode === 2) {
    // A broker that takes only the machine's own client id (the bridge's embedded one): logging in with it would
    // take the running agent's session over, so the login is left to `mqtt check` with the agent stopped.
    return {
      id: "broker",
      title,
      status: "warn",
      detail: `${report.url} reachable; login not tested: the broker accepts only the machine's own client id (${config.machine.id}), which doctor does not use so that a running agent stays connected`,
      fix: "with the agent stopped (sudo systemctl stop vend-agent): vend-agent mqtt check",
    };
  }
  return {
    id: "broker",
    title,
    status: "fail",
    detail: `${report.url}: ${failed?.name ?? "check"} failed: ${failed?.detail ?? "unknown"}${failed?.verbatim ? ` [${failed.verbatim}]` : ""}`,
    fix: "`vend-agent mqtt check` shows each step; check mqtt.url, mqtt.password and mqtt.caFile against the broker",
  };
}

/** Runs every check (config validity is checked before, by loading it). */
export async function runDoctorChecks(config: AgentConfig, probes: DoctorProbes): Promise<CheckResult[]> {
  const agentRunning = await probes.agentRunning();
  return [
    { id: "config", title: "configuration", status: "ok", detail: "valid" },
    await checkDataDir(config, probes),
    await checkDiskSpace(config, probes),
    await checkHardware(config, probes, agentRunning),
    checkGroups(config, probes),
    await checkClock(probes),
    await checkBroker(config, probes, agentRunning),
  ];
}

export function doctorFailed(results: readonly CheckResult[]): boolean {
  return results.some((result) => result.status === "fail");
}
