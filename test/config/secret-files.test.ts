import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../config/load.ts";
import { agentConfigSpec } from "../../config/schema/agent.ts";
import { bridgeConfigSpec } from "../../config/schema/bridge.ts";
import { agentConfigObject, bridgeConfigObject, tempDir, writeConfig } from "./fixtures.ts";

/**
 * Secret files in $CREDENTIALS_DIRECTORY (one file per dotted key): an unreadable one is a reported problem, a final
 * CRLF (a file written on Windows) is not part of the value, and keys under a map (`machines.*.commandKey`) are read
 * from `machines.<machine id>.commandKey`; one naming a machine the configuration does not define is refused.
 */

const key = (byte: string) => byte.repeat(32);
const machine = (commandKey: string) => ({
  commandKey,
  catalog: { currency: "EUR", products: { A1: { name: "Water", sku: "W", priceMinor: 150 } } },
});

describe("secret files", () => {
  it("an unreadable secret file is a problem naming the key and the file, not a crash", () => {
    const secretsDir = tempDir();
    mkdirSync(join(secretsDir, "mqtt.password")); // exists, cannot be read as a file
    const result = loadConfig(agentConfigSpec, { file: writeConfig(agentConfigObject()), env: {}, secretsDir });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems).toEqual([
      expect.objectContaining({
        path: "mqtt.password",
        source: { kind: "secret-file", file: join(secretsDir, "mqtt.password") },
        message: expect.stringMatching(/cannot read the secret file/),
      }),
    ]);
  });

  it("a final CRLF or LF is not part of the value", () => {
    const secretsDir = tempDir();
    writeFileSync(join(secretsDir, "mqtt.password"), "from-windows\r\n");
    writeFileSync(join(secretsDir, "commandKey"), `${key("cd")}\n`);
    const result = loadConfig(agentConfigSpec, { file: writeConfig(agentConfigObject()), env: {}, secretsDir });
    if (!result.ok) throw new Error(JSON.stringify(result.problems));
    expect(result.config.mqtt.password).toBe("from-windows");
    expect(result.config.commandKey).toBe(key("cd"));
  });

  it("machines.<id>.commandKey is read for the machine it names (CRLF too), over the configuration file", () => {
    const secretsDir = tempDir();
    writeFileSync(join(secretsDir, "machines.M1.commandKey"), `${key("12")}\r\n`);
    writeFileSync(join(secretsDir, "machines.lobby.2.commandKey"), key("34"));
    const config = { ...bridgeConfigObject(), machines: { M1: machine(key("aa")), "lobby.2": machine(key("bb")) } };
    const result = loadConfig(bridgeConfigSpec, { file: writeConfig(config), env: {}, secretsDir });
    if (!result.ok) throw new Error(JSON.stringify(result.problems));
    expect(result.config.machines.M1?.commandKey).toBe(key("12"));
    expect(result.config.machines["lobby.2"]?.commandKey).toBe(key("34"));
    expect(result.sources.get("machines.M1.commandKey")).toEqual({
      kind: "secret-file",
      file: join(secretsDir, "machines.M1.commandKey"),
    });
  });

  it("a machine's secret file lets the configuration file leave the key out", () => {
    const secretsDir = tempDir();
    writeFileSync(join(secretsDir, "machines.M1.commandKey"), key("56"));
    const { commandKey: _left, ...withoutKey } = machine(key("aa"));
    const config = { ...bridgeConfigObject(), machines: { M1: withoutKey } };
    const result = loadConfig(bridgeConfigSpec, { file: writeConfig(config), env: {}, secretsDir });
    if (!result.ok) throw new Error(JSON.stringify(result.problems));
    expect(result.config.machines.M1?.commandKey).toBe(key("56"));
  });

  it("a secret file for a machine the configuration does not define is refused, naming the file", () => {
    const secretsDir = tempDir();
    writeFileSync(join(secretsDir, "machines.M9.commandKey"), key("78"));
    const config = { ...bridgeConfigObject(), machines: { M1: machine(key("aa")) } };
    const result = loadConfig(bridgeConfigSpec, { file: writeConfig(config), env: {}, secretsDir });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems).toEqual([
      expect.objectContaining({
        path: "machines.M9.commandKey",
        source: { kind: "secret-file", file: join(secretsDir, "machines.M9.commandKey") },
        message: expect.stringMatching(/machines\.M9 is not in the configuration/),
      }),
    ]);
    expect(JSON.stringify(result.problems)).not.toContain(key("78"));
  });
});
