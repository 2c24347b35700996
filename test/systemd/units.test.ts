import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { agentShutdownTimeoutMs, bridgeShutdownTimeoutMs } from "../../platform/graceful-shutdown.ts";
import { hasTool } from "../helpers/system-tools.ts";

const repo = join(import.meta.dirname, "..", "..");
const unitPath = (name: string) => join(repo, "systemd", name);
const temps: string[] = [];
const tempDir = (prefix: string) => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  temps.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

/** Directive -> values, in order (a key may repeat), comments and blank lines dropped. */
function directives(file: string): Map<string, string[]> {
  const result = new Map<string, string[]>();
  for (const raw of readFileSync(file, "utf8").split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith("[")) continue;
    const at = line.indexOf("=");
    const key = line.slice(0, at);
    result.set(key, [...(result.get(key) ?? []), line.slice(at + 1)]);
  }
  return result;
}

const seconds = (value: string | undefined) => Number(/^(\d+)s$/.exec(value ?? "")?.[1] ?? Number.NaN);

function verify(files: string[], extraEnv: Record<string, string> = {}) {
  // --man=no: no man pages on CI images. Any output (even a warning about an unknown key) counts as a failure.
  const result = spawnSync("systemd-analyze", ["verify", "--man=no", ...files], {
    encoding: "utf8",
    env: { ...process.env, SYSTEMD_LOG_COLOR: "0", ...extraEnv },
  });
  return { status: result.status, output: `${result.stdout}${result.stderr}`.trim() };
}

describe.runIf(hasTool("systemd-analyze"))("systemd-analyze on the units", () => {
  it("verifies both units without a single warning", () => {
    expect(verify([unitPath("vend-agent.service"), unitPath("vend-bridge.service")])).toEqual({
      status: 0,
      output: "",
    });
  });

  it("verifies the units with every example drop-in applied", () => {
    const dir = tempDir("units-");
    for (const unit of ["vend-agent", "vend-bridge"]) {
      cpSync(unitPath(`${unit}.service`), join(dir, `${unit}.service`));
      mkdirSync(join(dir, `${unit}.service.d`));
      for (const dropIn of readdirSync(join(repo, "systemd", "examples")).filter((name) => name.startsWith(unit))) {
        cpSync(join(repo, "systemd", "examples", dropIn), join(dir, `${unit}.service.d`, dropIn));
      }
    }
    expect(verify([join(dir, "vend-agent.service"), join(dir, "vend-bridge.service")])).toEqual({
      status: 0,
      output: "",
    });
  });

  it("catches a broken unit (the check can fail)", () => {
    const dir = tempDir("units-bad-");
    const text = readFileSync(unitPath("vend-agent.service"), "utf8").replace("Restart=always", "Restart=sometimes");
    const file = join(dir, "vend-agent.service");
    writeFileSync(file, text);
    const result = verify([file]);
    expect(result.output).toContain("sometimes");
  });

  it("verifies the kiosk browser's user unit", () => {
    const runtime = tempDir("xdg-runtime-");
    expect(
      verify(["--user", join(repo, "systemd", "kiosk", "vend-kiosk.service")], { XDG_RUNTIME_DIR: runtime }),
    ).toEqual({ status: 0, output: "" });
  });

  it("rates both units' exposure as OK (systemd-analyze security, offline)", () => {
    for (const [unit, ceiling] of [
      ["vend-agent.service", 4.0],
      ["vend-bridge.service", 3.5],
    ] as const) {
      const result = spawnSync("systemd-analyze", ["security", "--offline=yes", "--no-pager", unitPath(unit)], {
        encoding: "utf8",
      });
      const score = Number(/Overall exposure level for \S+: ([\d.]+)/.exec(result.stdout)?.[1]);
      expect(score, `${unit}: ${result.stdout.slice(-300)}${result.stderr}`).toBeLessThanOrEqual(ceiling);
    }
  });
});

describe("what the units promise", () => {
  for (const [unit, program, hardExitMs] of [
    ["vend-agent.service", "dist/agent/main.js", agentShutdownTimeoutMs],
    ["vend-bridge.service", "dist/backend-bridge/main.js", bridgeShutdownTimeoutMs],
  ] as const) {
    describe(unit, () => {
      const unitDirectives = directives(unitPath(unit));
      const one = (key: string) => unitDirectives.get(key)?.[0];

      it("starts the compiled program with node, as a notify service with a watchdog, and restarts forever", () => {
        expect(one("ExecStart")).toMatch(new RegExp(`^/usr/bin/node /opt/seqr-vend/${program} run( |$)`));
        expect(one("ExecStart")).not.toMatch(/npm|tsx|\.ts\b/);
        expect(one("Type")).toBe("notify");
        expect(one("NotifyAccess")).toBe("main");
        expect(seconds(one("WatchdogSec"))).toBeGreaterThan(0);
        expect(one("Restart")).toBe("always");
        expect(one("RestartSec")).toBe("5");
        expect(one("StartLimitIntervalSec")).toBe("0");
        expect(one("RestartPreventExitStatus")).toBe("78");
        expect(unitDirectives.get("After")).toContain("network-online.target");
        expect(unitDirectives.get("Wants")).toContain("network-online.target");
      });

      it("gives systemd's SIGKILL a margin above the program's own hard-exit timer", () => {
        const stopSeconds = seconds(one("TimeoutStopSec"));
        expect(stopSeconds * 1000).toBeGreaterThan(hardExitMs);
        expect(stopSeconds * 1000 - hardExitMs).toBeLessThanOrEqual(10_000);
      });

      it("hardens without the lines that break Node", () => {
        for (const [key, value] of [
          ["NoNewPrivileges", "yes"],
          ["ProtectSystem", "strict"],
          ["ProtectHome", "yes"],
          ["PrivateTmp", "yes"],
          ["LockPersonality", "yes"],
          ["RestrictRealtime", "yes"],
          ["SystemCallArchitectures", "native"],
          ["CapabilityBoundingSet", ""],
        ]) {
          expect(one(key!), key).toBe(value);
        }
        expect(one("RestrictAddressFamilies")).toBe("AF_UNIX AF_INET AF_INET6 AF_NETLINK");
        expect(unitDirectives.has("MemoryDenyWriteExecute")).toBe(false);
        expect(unitDirectives.has("LimitAS")).toBe(false);
        expect(one("LoadCredential")).toMatch(/^[A-Za-z.]+:\/etc\/vend-(agent|bridge)\/credentials\//);
      });

      it("says why on every line of the hardening block", () => {
        const lines = readFileSync(unitPath(unit), "utf8").split("\n");
        const start = lines.findIndex((line) => line.startsWith("# --- Hardening"));
        expect(start).toBeGreaterThan(0);
        let previous = "";
        for (const line of lines.slice(start + 1)) {
          if (line.startsWith("[")) break;
          if (line.trim() !== "" && !line.startsWith("#")) {
            expect(previous.startsWith("#"), `no comment right above: ${line}`).toBe(true);
          }
          previous = line;
        }
      });
    });
  }

  it("lets the agent reach serial, GPIO and the framebuffer, and the bridge no device at all", () => {
    const agent = directives(unitPath("vend-agent.service"));
    expect(agent.get("User")).toEqual(["vend-agent"]);
    expect(agent.get("SupplementaryGroups")).toEqual(["dialout gpio video"]);
    expect(agent.get("DevicePolicy")).toEqual(["closed"]);
    expect(agent.get("DeviceAllow")).toEqual(
      expect.arrayContaining(["char-ttyUSB rw", "char-ttyACM rw", "char-ttyAMA rw", "char-fb rw", "char-gpiochip rw"]),
    );
    expect(agent.get("ReadWritePaths")).toEqual(["/sys/class/gpio"]);
    expect(agent.has("PrivateDevices")).toBe(false);
    expect(agent.has("ProtectKernelTunables")).toBe(false);
    expect(agent.get("LoadCredential")).toEqual([
      "mqtt.password:/etc/vend-agent/credentials/mqtt.password",
      "commandKey:/etc/vend-agent/credentials/commandKey",
    ]);
    const bridge = directives(unitPath("vend-bridge.service"));
    expect(bridge.get("PrivateDevices")).toEqual(["yes"]);
    expect(bridge.get("ProtectKernelTunables")).toEqual(["yes"]);
  });
});
