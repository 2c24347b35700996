import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { agentToolCommands } from "../../agent/cli/commands.ts";
import { parsePortsArgs, portsCommand } from "../../agent/cli/ports-command.ts";
import { parseTestVendArgs } from "../../agent/cli/test-vend-command.ts";
import { runCli, UsageError } from "../../platform/cli.ts";
import { ExitCode } from "../../platform/exit-codes.ts";
import { captureOutput } from "./capture-output.ts";
import { tempDir, writeAgentConfig } from "./fixtures.ts";

const run = async (argv: string[], env: NodeJS.ProcessEnv = {}) => {
  const out = captureOutput();
  const code = await runCli("vend-agent", agentToolCommands, argv, { out, env }, "qr");
  return { code, out };
};

describe("argument parsing", () => {
  it("ports: list by default, probe needs a path, protocol and baud are checked", () => {
    expect(parsePortsArgs([])).toEqual({ action: "list", protocol: "none", json: false });
    expect(parsePortsArgs(["list", "--json"])).toMatchObject({ action: "list", json: true });
    expect(parsePortsArgs(["probe", "/dev/ttyACM0", "--protocol", "qibixx", "--baud", "115200"])).toEqual({
      action: "probe",
      path: "/dev/ttyACM0",
      protocol: "qibixx",
      baudRate: 115200,
      json: false,
    });
    expect(() => parsePortsArgs(["probe"])).toThrow(UsageError);
    expect(() => parsePortsArgs(["list", "/dev/x"])).toThrow(UsageError);
    expect(() => parsePortsArgs(["scan"])).toThrow(/unknown subcommand/);
    expect(() => parsePortsArgs(["probe", "/dev/x", "--protocol", "modbus"])).toThrow(/--protocol/);
    expect(() => parsePortsArgs(["probe", "/dev/x", "--baud", "fast"])).toThrow(/--baud/);
    expect(() => parsePortsArgs(["--bogus"])).toThrow(UsageError);
  });

  it("test-vend: needs a selection and --yes", () => {
    expect(parseTestVendArgs(["A1", "--yes"])).toEqual({ selection: "A1", timeoutMs: 60_000, json: false });
    expect(parseTestVendArgs(["A1", "--yes", "--timeout-ms", "5000", "--json", "-c", "x.yaml"])).toEqual({
      selection: "A1",
      timeoutMs: 5000,
      json: true,
      config: "x.yaml",
    });
    expect(() => parseTestVendArgs(["A1"])).toThrow(/add --yes/);
    expect(() => parseTestVendArgs(["--yes"])).toThrow(/which selection/);
    expect(() => parseTestVendArgs(["A1", "A2", "--yes"])).toThrow(/unexpected/);
    expect(() => parseTestVendArgs(["A1", "--yes", "--timeout-ms", "-1"])).toThrow(/--timeout-ms/);
  });

  it("usage errors exit 2 through the dispatcher, without doing anything", async () => {
    const noYes = await run(["test-vend", "11", "--config", writeAgentConfig()]);
    expect(noYes.code).toBe(ExitCode.usage);
    expect(noYes.out.stderr).toMatch(/add --yes/);
    expect(noYes.out.stdout).toBe("");
    expect((await run(["mqtt", "status"])).code).toBe(ExitCode.usage);
    expect((await run(["ports", "probe"])).code).toBe(ExitCode.usage);
    expect((await run(["qr", "extra"])).code).toBe(ExitCode.usage);
    expect((await run(["doctor", "now"])).code).toBe(ExitCode.usage);
  });

  it("an invalid config exits 78 with the key named", async () => {
    const bad = writeAgentConfig({ machine: { id: "C 1", merchantId: "acme" } });
    for (const command of [["qr", "--url"], ["doctor"], ["mqtt", "check"], ["test-vend", "11", "--yes"]]) {
      const result = await run([...command, "--config", bad]);
      expect(result.code, command.join(" ")).toBe(ExitCode.config);
      expect(result.out.stderr).toContain("machine.id");
    }
  });
});

describe("vend-agent qr", () => {
  it("--url prints exactly the encoded string", async () => {
    const { code, out } = await run(["qr", "--url", "--config", writeAgentConfig()]);
    expect(code).toBe(ExitCode.ok);
    expect(out.stdout).toBe("HTTP://SEQR.SE/000/ups?w=acme&t=C0001\n");
  });

  it("shows the QR in half blocks with the idle text, no escapes without colour", async () => {
    const { code, out } = await run(["qr", "--config", writeAgentConfig({ display: { idleText: "Scan me" } })]);
    expect(code).toBe(ExitCode.ok);
    expect(out.stdout).toMatch(/[\u2580\u2584\u2588]/);
    expect(out.stdout).toContain("Scan me");
    expect(out.stdout).not.toContain(String.fromCharCode(27));
  });

  it("--png and --svg write sticker files; --json describes the symbol", async () => {
    const dir = tempDir();
    const png = join(dir, "qr.png");
    const svg = join(dir, "qr.svg");
    const { code, out } = await run(["qr", "--png", png, "--svg", svg, "--json", "--config", writeAgentConfig()]);
    expect(code).toBe(ExitCode.ok);
    expect(out.jsonValues[0]).toMatchObject({
      payload: "HTTP://SEQR.SE/000/ups?w=acme&t=C0001",
      errorCorrection: "M",
      files: [png, svg],
    });
    expect(readFileSync(png).subarray(1, 4).toString()).toBe("PNG");
    expect(readFileSync(svg, "utf8")).toMatch(/^<svg/);
  });

  it("an unwritable sticker path fails with exit 1 and says why", async () => {
    const { code, out } = await run(["qr", "--png", "/nonexistent-dir/qr.png", "--config", writeAgentConfig()]);
    expect(code).toBe(ExitCode.failure);
    expect(out.stderr).toMatch(/ENOENT/);
  });
});

describe("vend-agent ports (with injected hardware listing)", () => {
  const tools = {
    listSerialPorts: async () => [
      {
        path: "/dev/ttyACM0",
        links: ["/dev/serial/by-id/usb-Qibixx_MDB-USB_0001-if00"],
        manufacturer: "Qibixx",
        serialNumber: "0001",
        source: "udev" as const,
      },
    ],
    probePort: async (path: string) => ({
      path,
      opened: false,
      ok: false,
      errorKind: "locked" as const,
      message: `${path} is held by another process (Cannot lock port)`,
    }),
  };

  it("lists ports with their stable links; --json gives the entries", async () => {
    const out = captureOutput();
    expect(await runCli("vend-agent", [portsCommand(tools)], ["ports"], { out, env: {} })).toBe(ExitCode.ok);
    expect(out.stdout).toContain("/dev/ttyACM0  Qibixx, serial 0001");
    expect(out.stdout).toContain("<- /dev/serial/by-id/usb-Qibixx_MDB-USB_0001-if00");
    const json = captureOutput();
    await runCli("vend-agent", [portsCommand(tools)], ["ports", "list", "--json"], { out: json, env: {} });
    expect(json.jsonValues[0]).toEqual(await tools.listSerialPorts());
  });

  it("probe failure exits 1 with the explanation", async () => {
    const out = captureOutput();
    expect(
      await runCli("vend-agent", [portsCommand(tools)], ["ports", "probe", "/dev/ttyACM0"], { out, env: {} }),
    ).toBe(ExitCode.failure);
    expect(out.stdout).toContain("[FAIL] /dev/ttyACM0 is held by another process (Cannot lock port)");
  });
});
