import { existsSync, readdirSync, readFileSync } from "node:fs";
import { describe, expect, it, vi } from "vitest";
import { systemConfigFiles } from "../../config/cli.ts";
import { runProgram } from "../helpers/run-cli.ts";
import { agentSecret, bridgeConfigObject, writeConfig } from "./fixtures.ts";

// Every case starts a real program (Node with tsx); on a busy 2-core machine one start can take well over the default.
vi.setConfig({ testTimeout: 90_000 });

const programs = [
  {
    entry: "agent/main.ts",
    program: "vend-agent",
    examples: readdirSync("config/examples").filter((f) => f.startsWith("agent")),
    system: "/etc/vend-agent/agent.yaml",
    envName: "VEND_AGENT_CONFIG",
    unit: "systemd/vend-agent.service",
    installScript: "scripts/install-agent.sh",
  },
  {
    entry: "backend-bridge/main.ts",
    program: "vend-bridge",
    examples: ["bridge.yaml"],
    system: "/etc/vend-bridge/bridge.yaml",
    envName: "VEND_BRIDGE_CONFIG",
    unit: "systemd/vend-bridge.service",
    installScript: "scripts/install-bridge.sh",
  },
];

describe.each(programs)(
  "$program: one config path everywhere",
  ({ entry, program, system, envName, unit, installScript }) => {
    it("the CLI's default file is the one the systemd unit runs with and the install script writes", () => {
      expect(systemConfigFiles[program]).toBe(system);
      expect(readFileSync(unit, "utf8")).toMatch(new RegExp(`^ExecStart=.* --config ${system}$`, "m"));
      expect(readFileSync(installScript, "utf8")).toContain(`$ROOT${system}`);
    });

    it("with no config anywhere, the error names every place it looked and does not suggest `config show`", {
      timeout: 120_000,
    }, async () => {
      // The CLI would read an installed machine's file; this test needs the machine without one (any dev or CI box).
      expect(existsSync(system), `${system} exists on this machine`).toBe(false);
      for (const args of [["config", "check"], ["run"]]) {
        const run = await runProgram(entry, args);
        expect(run.code, run.stderr).toBe(78);
        expect(run.stderr).toContain(
          `no config file found; looked for: --config FILE (not given), $${envName} (not set), ${system} (absent)`,
        );
        expect(run.stderr).toContain(`Write ${system}`);
        expect(run.stderr).not.toContain("config show");
      }
    });

    it("a --config file that does not exist is named, without suggesting `config show`", {
      timeout: 90_000,
    }, async () => {
      const run = await runProgram(entry, ["config", "check", "--config", "/nonexistent/seqr-vend.yaml"], {}, 60_000);
      expect(run.code).toBe(78);
      expect(run.stderr).toContain("the config file /nonexistent/seqr-vend.yaml does not exist");
      expect(run.stderr).not.toContain("config show");
    });
  },
);

describe.each(programs)("$program config check|show", ({ entry, examples }) => {
  it.each(examples)(
    "config check --config config/examples/%s: valid, or only its PEM files missing here",
    async (example) => {
      const run = await runProgram(entry, ["config", "check", "--config", `config/examples/${example}`]);
      const named = [
        ...readFileSync(`config/examples/${example}`, "utf8").matchAll(/(?:cert|key|ca)File: (\S+?)[,\s}]/g),
      ];
      if (named.length === 0) {
        expect(run.stderr).toBe("");
        expect(run.code).toBe(0);
        expect(run.stdout).toContain("is a valid");
        return;
      }
      // The examples name where an install puts its certificates; this machine has none there, and check says so.
      expect(run.code).toBe(78);
      expect(run.stderr).toContain("names files that will not work");
      for (const [, file] of named) expect(run.stderr).toContain(`(${file}): cannot read it`);
      expect(run.stderr).not.toContain("refusing to start");
    },
  );

  it("config check on a broken file exits 78 and lists every error", async () => {
    const broken = writeConfig(
      ["unknownTopLevel: 1", "log: { level: loud }", "store: { url: 'ftp://x' }", "mqtt: { url: 'nope' }"].join("\n"),
      "broken.yaml",
    );
    const run = await runProgram(entry, ["config", "check", "--config", broken]);
    expect(run.code).toBe(78);
    expect(run.stderr).toContain("refusing to start");
    expect(run.stderr).toContain("unknownTopLevel");
    expect(run.stderr).toContain("log.level");
    const count = Number(/\((\d+) errors\)/.exec(run.stderr)?.[1]);
    expect(count).toBeGreaterThanOrEqual(3);
    expect(run.stderr.match(/^ {2}- /gm)).toHaveLength(count);
  });

  it("config check --json gives machine-readable errors", async () => {
    const run = await runProgram(entry, [
      "config",
      "check",
      "--json",
      "--config",
      writeConfig("log: { level: loud }", "x.yaml"),
    ]);
    expect(run.code).toBe(78);
    const body = JSON.parse(run.stdout) as { ok: boolean; errors: { path: string }[] };
    expect(body.ok).toBe(false);
    expect(body.errors.map((error) => error.path)).toContain("log.level");
  });

  it("run refuses to start on a broken config with exit 78", async () => {
    const run = await runProgram(entry, ["run", "--config", writeConfig("{}", "empty.json")]);
    expect(run.code).toBe(78);
  });

  it("an unknown command is a usage error (exit 2)", async () => {
    const run = await runProgram(entry, ["frobnicate"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("unknown command");
  });
});

describe("vend-agent config show", () => {
  it("shows every value with its source and no secret", async () => {
    const file = writeConfig({
      machine: { id: "M9", merchantId: "acme" },
      mqtt: { password: agentSecret },
      commandKey: "ef".repeat(32),
      catalog: { currency: "EUR", products: { A1: { name: "Water", sku: "W", priceMinor: 150 } } },
    });
    const run = await runProgram(entry(), ["config", "show", "--json", "--config", file], {
      VEND_AGENT_MQTT__KEEPALIVE_SECONDS: "45",
    });
    expect(run.code).toBe(0);
    const shown = JSON.parse(run.stdout) as Record<string, { value: unknown; source: string }>;
    expect(shown["machine.id"]).toEqual({ value: "M9", source: `file ${file}` });
    expect(shown["mqtt.keepaliveSeconds"]).toEqual({
      value: 45,
      source: "environment VEND_AGENT_MQTT__KEEPALIVE_SECONDS",
    });
    expect(shown["mqtt.rootTopic"]).toEqual({ value: "vending/v1", source: "default" });
    expect(shown["mqtt.password"]?.value).toBe("[redacted]");
    expect(run.stdout).not.toContain(agentSecret);
    expect(run.stdout).not.toContain("ef".repeat(32));
  });

  function entry() {
    return "agent/main.ts";
  }
});

describe("an environment override that breaks validation", () => {
  it("names the variable as the source (VEND_BRIDGE_BROKER__TCP__PORT without broker.mode)", {
    timeout: 90_000,
  }, async () => {
    // The file has no broker section: the variable alone creates `broker`, without the `mode` it needs.
    const { broker: _noBroker, ...withoutBroker } = bridgeConfigObject();
    const file = writeConfig(withoutBroker, "bridge.json");
    const run = await runProgram(
      "backend-bridge/main.ts",
      ["config", "check", "--config", file],
      { VEND_BRIDGE_BROKER__TCP__PORT: "1884" },
      60_000,
    );
    expect(run.code, run.stderr).toBe(78);
    expect(run.stderr).toMatch(/- broker\.mode: /);
    expect(run.stderr).toContain("from: not set; broker was made by environment VEND_BRIDGE_BROKER__TCP__PORT");
    expect(run.stderr).not.toContain("not set in the file, the environment or a secret file");
  });
});
