import { describe, expect, it } from "vitest";
import { type CheckResult, clockFloorMs, type DoctorProbes, runDoctorChecks } from "../../agent/cli/doctor-checks.ts";
import { doctorCommand, formatDoctorReport } from "../../agent/cli/doctor-command.ts";
import type { MqttCheckReport } from "../../agent/cli/mqtt-check.ts";
import { runCli } from "../../platform/cli.ts";
import { ExitCode } from "../../platform/exit-codes.ts";
import { captureOutput } from "./capture-output.ts";
import { agentConfig, writeAgentConfig } from "./fixtures.ts";

const goodMqtt: MqttCheckReport = {
  ok: true,
  url: "mqtt://127.0.0.1:1883",
  clientId: "C0001",
  username: "C0001",
  latencyMs: 1.2,
  steps: [],
};

/** A healthy machine; each test breaks one thing. */
function healthy(overrides: Partial<DoctorProbes> = {}): DoctorProbes {
  return {
    dataDirStatus: async () => ({ state: "writable" }),
    freeBytes: async () => 4 * 1024 ** 3,
    pathExists: () => true,
    probeSerial: async (path) => ({ ok: true, message: `${path}: MDB adapter, firmware 1.2` }),
    gpioSysfs: () => ({ present: true, exportWritable: true }),
    identity: () => ({ user: "pi", groups: ["pi", "dialout", "gpio"], root: false }),
    groupExists: () => true,
    agentRunning: async () => false,
    now: () => Date.UTC(2026, 0, 15),
    clockSynchronized: async () => true,
    mqttCheck: async () => goodMqtt,
    brokerReachable: async () => ({ ok: true, ms: 3 }),
    ...overrides,
  };
}

const mdb = agentConfig({ hardware: { driver: "mdb", serial: { path: "/dev/serial/by-id/usb-Qibixx" } } });
const gpio = agentConfig({ hardware: { driver: "gpio", motors: { layout: "per-slot", pins: { "11": 17 } } } });

const byId = (results: CheckResult[], id: CheckResult["id"]) => results.find((result) => result.id === id);

describe("doctor checks (injected probes)", () => {
  it("a healthy MDB machine passes every check", async () => {
    const results = await runDoctorChecks(mdb, healthy());
    expect(results.map((result) => [result.id, result.status])).toEqual([
      ["config", "ok"],
      ["data-dir", "ok"],
      ["disk-space", "ok"],
      ["hardware", "ok"],
      ["groups", "ok"],
      ["clock", "ok"],
      ["broker", "ok"],
    ]);
  });

  it("each failure comes with its fix", async () => {
    const cases: Array<[Partial<DoctorProbes>, CheckResult["id"], RegExp, RegExp]> = [
      [
        { dataDirStatus: async () => ({ state: "error", error: "EACCES: permission denied" }) },
        "data-dir",
        /EACCES/,
        /install -d/,
      ],
      [{ freeBytes: async () => 5 * 1024 * 1024 }, "disk-space", /only 5 MB/, /vacuum/],
      [{ pathExists: () => false }, "hardware", /does not exist/, /vend-agent ports/],
      [
        { probeSerial: async () => ({ ok: false, errorKind: "permission", message: "permission denied opening x" }) },
        "hardware",
        /permission denied/,
        /usermod -aG dialout/,
      ],
      [
        { probeSerial: async () => ({ ok: false, errorKind: "no-answer", message: "no MDB adapter answered" }) },
        "hardware",
        /no MDB adapter/,
        /baudRate/,
      ],
      [
        { identity: () => ({ user: "tech", groups: ["tech"], root: false }) },
        "groups",
        /not in dialout/,
        /usermod -aG dialout tech/,
      ],
      [{ now: () => clockFloorMs - 1 }, "clock", /TLS and command expiry/, /set-ntp/],
      [
        {
          mqttCheck: async () => ({
            ...goodMqtt,
            ok: false,
            steps: [
              {
                name: "connect",
                ok: false,
                detail: "bad username or password (CONNACK 4)",
                verbatim: "Connection refused: Bad username or password",
              },
            ],
          }),
        },
        "broker",
        /CONNACK 4.*\[Connection refused: Bad username or password\]/,
        /mqtt check/,
      ],
    ];
    for (const [probe, id, detail, fix] of cases) {
      const result = byId(await runDoctorChecks(mdb, healthy(probe)), id);
      expect(result?.status, id).toBe("fail");
      expect(result?.detail).toMatch(detail);
      expect(result?.fix).toMatch(fix);
    }
  });

  it("a data directory not made yet: fine when the agent can create it, a failure with the fix when not", async () => {
    const creatable = healthy({
      dataDirStatus: async () => ({ state: "missing", ancestor: "/var/lib", creatable: true }),
    });
    expect(byId(await runDoctorChecks(mdb, creatable), "data-dir")).toMatchObject({
      status: "ok",
      detail: expect.stringMatching(/does not exist yet; the agent creates it at its start \(\/var\/lib is writable\)/),
    });
    const blocked = healthy({ dataDirStatus: async () => ({ state: "missing", ancestor: "/var", creatable: false }) });
    expect(byId(await runDoctorChecks(mdb, blocked), "data-dir")).toMatchObject({
      status: "fail",
      detail: expect.stringMatching(/cannot be created here \(\/var is not writable\)/),
      fix: expect.stringMatching(/install -d/),
    });
  });

  it("a broker that takes only the machine's own client id: a warning that names why the login was not tested", async () => {
    const result = byId(
      await runDoctorChecks(
        mdb,
        healthy({
          mqttCheck: async () => ({
            ...goodMqtt,
            ok: false,
            clientId: "C0001-doctor-1",
            steps: [{ name: "connect", ok: false, detail: "the broker refused the client id", connackCode: 2 }],
          }),
        }),
      ),
      "broker",
    );
    expect(result).toMatchObject({
      status: "warn",
      detail: expect.stringMatching(/login not tested: the broker accepts only the machine's own client id/),
      fix: expect.stringMatching(/vend-agent mqtt check/),
    });
  });

  it("warnings: low disk, unsynchronized clock, a group the system does not have", async () => {
    const results = await runDoctorChecks(
      gpio,
      healthy({
        freeBytes: async () => 100 * 1024 * 1024,
        clockSynchronized: async () => false,
        identity: () => ({ user: "tech", groups: ["tech"], root: false }),
        groupExists: () => false,
      }),
    );
    expect(byId(results, "disk-space")?.status).toBe("warn");
    expect(byId(results, "clock")).toMatchObject({ status: "warn", fix: "sudo timedatectl set-ntp true" });
    expect(byId(results, "groups")).toMatchObject({
      status: "warn",
      detail: expect.stringMatching(/gpio does not exist here/),
    });
  });

  it("GPIO: sysfs missing or not writable", async () => {
    expect(
      byId(
        await runDoctorChecks(gpio, healthy({ gpioSysfs: () => ({ present: false, exportWritable: false }) })),
        "hardware",
      ),
    ).toMatchObject({
      status: "fail",
      fix: expect.stringMatching(/CONFIG_GPIO_SYSFS/),
    });
    expect(
      byId(
        await runDoctorChecks(gpio, healthy({ gpioSysfs: () => ({ present: true, exportWritable: false }) })),
        "hardware",
      ),
    ).toMatchObject({
      status: "fail",
      fix: expect.stringMatching(/usermod -aG gpio/),
    });
  });

  it("while the agent runs: its port lock is fine, and the broker is only checked for reachability", async () => {
    let loggedIn = false;
    const results = await runDoctorChecks(
      mdb,
      healthy({
        agentRunning: async () => true,
        probeSerial: async () => ({ ok: false, errorKind: "locked", message: "held" }),
        mqttCheck: async () => {
          loggedIn = true;
          return goodMqtt;
        },
      }),
    );
    expect(byId(results, "hardware")).toMatchObject({
      status: "ok",
      detail: expect.stringMatching(/held by the running vend-agent/),
    });
    expect(byId(results, "broker")).toMatchObject({ status: "ok", detail: expect.stringMatching(/login not tested/) });
    expect(loggedIn).toBe(false);
  });

  it("a locked port without a running agent is a failure", async () => {
    const result = byId(
      await runDoctorChecks(
        mdb,
        healthy({ probeSerial: async () => ({ ok: false, errorKind: "locked", message: "held" }) }),
      ),
      "hardware",
    );
    expect(result).toMatchObject({ status: "fail", fix: expect.stringMatching(/fuser/) });
  });
});

describe("vend-agent doctor command", () => {
  it("exit 0 when all pass, 1 when one fails; --json carries every check", async () => {
    const config = writeAgentConfig();
    const ok = captureOutput();
    expect(
      await runCli("vend-agent", [doctorCommand(() => healthy())], ["doctor", "--config", config], {
        out: ok,
        env: {},
      }),
    ).toBe(ExitCode.ok);
    expect(ok.stdout).toMatch(/all checks passed/);
    const bad = captureOutput();
    const failing = doctorCommand(() => healthy({ now: () => 0 }));
    expect(await runCli("vend-agent", [failing], ["doctor", "--json", "--config", config], { out: bad, env: {} })).toBe(
      ExitCode.failure,
    );
    const json = bad.jsonValues[0] as { ok: boolean; checks: CheckResult[] };
    expect(json.ok).toBe(false);
    expect(json.checks.find((check) => check.id === "clock")?.status).toBe("fail");
  });

  it("formats a copy-pasteable report with fixes under failures", () => {
    const lines = formatDoctorReport(
      [
        { id: "config", title: "configuration", status: "ok", detail: "valid" },
        { id: "clock", title: "clock", status: "fail", detail: "1970", fix: "sudo timedatectl set-ntp true" },
      ],
      { ok: (text) => text, bad: (text) => text, dim: (text) => text },
    );
    expect(lines).toEqual([
      "[ok  ] configuration  valid",
      "[FAIL] clock          1970",
      "                      fix: sudo timedatectl set-ntp true",
      "",
      "1 check(s) failed, 0 warning(s)",
    ]);
  });

  it("the real probes run on this machine (simulator config) and report each check", async () => {
    const out = captureOutput();
    const code = await runCli(
      "vend-agent",
      [doctorCommand()],
      ["doctor", "--json", "--config", writeAgentConfig({ mqtt: { url: "mqtt://127.0.0.1:1" } })],
      {
        out,
        env: {},
      },
    );
    const json = out.jsonValues[0] as { checks: CheckResult[] };
    expect(json.checks.map((check) => check.id)).toEqual([
      "config",
      "data-dir",
      "disk-space",
      "hardware",
      "groups",
      "clock",
      "broker",
    ]);
    expect(byId(json.checks, "data-dir")?.status).toBe("ok");
    // Nothing listens on port 1: the broker check fails and the command says so with exit 1.
    expect(byId(json.checks, "broker")?.status).toBe("fail");
    expect(code).toBe(ExitCode.failure);
  });
});
