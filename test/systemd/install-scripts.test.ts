import { spawnSync } from "node:child_process";
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const repo = join(import.meta.dirname, "..", "..");
const temps: string[] = [];
const tempDir = (prefix: string) => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  temps.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

/**
 * Commands that change the system are replaced by recorders on PATH: a dry run must call none of them, and a --root
 * run must only touch files under its root.
 */
const systemCommands = ["useradd", "groupadd", "usermod", "systemctl", "udevadm", "chown", "raspi-config"];

function recorderPath(): { bin: string; calls: () => string[] } {
  const bin = tempDir("install-bin-");
  const log = join(bin, "calls.log");
  writeFileSync(log, "");
  for (const command of systemCommands) {
    const file = join(bin, command);
    writeFileSync(file, `#!/bin/sh\necho "${command} $*" >> "${log}"\n`);
    chmodSync(file, 0o755);
  }
  return { bin, calls: () => readFileSync(log, "utf8").split("\n").filter(Boolean) };
}

function runScript(script: string, args: string[], bin: string) {
  const result = spawnSync("bash", [script, ...args], {
    encoding: "utf8",
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("install scripts, dry run", () => {
  it("install-agent.sh --dry-run prints what the guide says, in order, and changes nothing", () => {
    const { bin, calls } = recorderPath();
    const result = runScript(
      join(repo, "scripts", "install-agent.sh"),
      ["--dry-run", "--kiosk-user", "kiosk-test-user", "--enable-uart"],
      bin,
    );
    expect(result.status, result.stderr).toBe(0);
    const out = result.stdout;
    const expected = [
      "dry run: nothing is changed",
      "usermod --append --groups",
      "/etc/vend-agent",
      "chmod 0750 /etc/vend-agent",
      "chmod 0700 /etc/vend-agent/credentials",
      "/etc/vend-agent/credentials/mqtt.password",
      "/etc/vend-agent/credentials/commandKey",
      "chown vend-agent:vend-agent /var/lib/vend-agent",
      "cp " + join(repo, "systemd", "vend-agent.service") + " /etc/systemd/system/vend-agent.service",
      "ln -sfn /opt/seqr-vend/dist/agent/main.js /usr/local/bin/vend-agent",
      "/etc/udev/rules.d/70-vend-agent.rules",
      "udevadm control --reload-rules",
      "raspi-config nonint do_serial_hw 0",
      "/home/kiosk-test-user/.config/autostart/vend-kiosk.desktop",
      "config check --config /etc/vend-agent/agent.yaml --secrets-dir /etc/vend-agent/credentials",
      "systemctl daemon-reload",
      "systemctl enable vend-agent.service",
    ];
    let from = 0;
    for (const text of expected) {
      const at = out.indexOf(text, from);
      expect(at, `"${text}" after position ${from}`).toBeGreaterThanOrEqual(from);
      from = at;
    }
    expect(calls()).toEqual([]);
  });

  it("install-bridge.sh --dry-run prints its steps and changes nothing", () => {
    const { bin, calls } = recorderPath();
    const result = runScript(join(repo, "scripts", "install-bridge.sh"), ["--dry-run"], bin);
    expect(result.status, result.stderr).toBe(0);
    for (const text of [
      "/etc/vend-bridge/tls",
      "chmod 0700 /etc/vend-bridge/credentials",
      "/etc/vend-bridge/credentials/seqr.password",
      "chown vend-bridge:vend-bridge /var/lib/vend-bridge",
      "/etc/systemd/system/vend-bridge.service",
      "ln -sfn /opt/seqr-vend/dist/backend-bridge/main.js /usr/local/bin/vend-bridge",
      "systemctl enable vend-bridge.service",
    ]) {
      expect(result.stdout).toContain(text);
    }
    expect(calls()).toEqual([]);
  });

  it("refuses unknown options with the usage text (exit 2)", () => {
    const { bin } = recorderPath();
    const result = runScript(join(repo, "scripts", "install-agent.sh"), ["--frobnicate"], bin);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain("--dry-run");
  });
});

describe("install-agent.sh into a temporary root, twice", () => {
  it("creates the tree with its modes, then keeps the operator's config and secrets on a re-run", () => {
    // A small release tree: the real scripts, units and examples, and a stand-in for the compiled agent that
    // records the config check it is asked for.
    const source = tempDir("install-src-");
    for (const item of ["scripts", "systemd", "config/examples"]) {
      cpSync(join(repo, item), join(source, item), { recursive: true });
    }
    mkdirSync(join(source, "dist", "agent"), { recursive: true });
    writeFileSync(
      join(source, "dist", "agent", "main.js"),
      'require("node:fs").appendFileSync(__dirname + "/checks.log", process.argv.slice(2).join(" ") + "\\n");\n',
    );
    const root = tempDir("install-root-");
    const { bin, calls } = recorderPath();
    const script = join(source, "scripts", "install-agent.sh");

    const first = runScript(script, ["--root", root], bin);
    expect(first.status, first.stderr + first.stdout).toBe(0);
    const mode = (path: string) => (statSync(join(root, path)).mode & 0o777).toString(8);
    expect(mode("etc/vend-agent")).toBe("750");
    expect(mode("etc/vend-agent/credentials")).toBe("700");
    expect(mode("etc/vend-agent/credentials/commandKey")).toBe("600");
    expect(mode("etc/vend-agent/agent.yaml")).toBe("640");
    expect(mode("var/lib/vend-agent")).toBe("750");
    expect(mode("etc/systemd/system/vend-agent.service")).toBe("644");
    expect(readFileSync(join(root, "etc/systemd/system/vend-agent.service"), "utf8")).toBe(
      readFileSync(join(repo, "systemd", "vend-agent.service"), "utf8"),
    );
    const rule = readFileSync(join(root, "etc/udev/rules.d/70-vend-agent.rules"), "utf8");
    expect(rule).toContain('ENV{ID_MM_DEVICE_IGNORE}="1"');
    expect(rule).not.toContain("@ADAPTER_RULE@");
    expect(existsSync(join(root, "opt/seqr-vend/dist/agent/main.js"))).toBe(true);
    // The technician's command on PATH, pointing where the program lives on the installed machine.
    expect(readlinkSync(join(root, "usr/local/bin/vend-agent"))).toBe("/opt/seqr-vend/dist/agent/main.js");
    const checks = readFileSync(join(root, "opt/seqr-vend/dist/agent/checks.log"), "utf8");
    expect(checks).toContain(`config check --config ${root}/etc/vend-agent/agent.yaml`);
    // System-wide commands are only printed under --root, except the offline `systemctl --root enable`.
    expect(calls()).toEqual([`systemctl --root=${root} enable vend-agent.service`]);

    // The operator edits the config and writes the key; a re-run (an upgrade) must keep both.
    writeFileSync(join(root, "etc/vend-agent/agent.yaml"), "machine: { id: EDITED }\n");
    writeFileSync(join(root, "etc/vend-agent/credentials/commandKey"), "ab".repeat(32));
    chmodSync(join(root, "etc/vend-agent/credentials"), 0o755); // a wrong manual chmod is repaired
    const second = runScript(script, ["--root", root], bin);
    expect(second.status, second.stderr).toBe(0);
    expect(second.stdout).toContain("agent.yaml exists: kept");
    expect(readFileSync(join(root, "etc/vend-agent/agent.yaml"), "utf8")).toBe("machine: { id: EDITED }\n");
    expect(readFileSync(join(root, "etc/vend-agent/credentials/commandKey"), "utf8")).toBe("ab".repeat(32));
    expect(mode("etc/vend-agent/credentials")).toBe("700");
  });
});
