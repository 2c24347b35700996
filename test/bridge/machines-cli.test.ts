import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import YAML from "yaml";
import { needsRehash, verifyMachineSecret } from "../../backend-bridge/broker/machine-secret.ts";
import { bridgeToolCommands } from "../../backend-bridge/cli/commands.ts";
import { storedMachineEntry } from "../../backend-bridge/registry/machine-registry.ts";
import { openStore } from "../../backend-bridge/store/open-store.ts";
import type { StoredMachine } from "../../backend-bridge/store/store.ts";
import { runCli } from "../../platform/cli.ts";
import { captureOutput } from "../cli/capture-output.ts";
import { testOnlyInsecureChoices } from "../helpers/bridge-test-config.ts";
import { type CliRun, runProgram } from "../helpers/run-cli.ts";

/**
 * `vend-bridge machines add|list|remove` against a SQLite store in a temp dir: bad input is refused with a clear message
 * and a nonzero exit and stores nothing, secrets are never printed (except a generated command key, once, by `add`),
 * and machines of the config file win over stored ones. The cases run the command in-process through the CLI's own
 * dispatcher (the same code path as the program, without a Node start per case); two of them also run the real program
 * in a child process, one after the other, for what only a process shows: exit codes and no stack trace.
 */

const configKey = "c0".repeat(32);
const configPassword = "config-file-mqtt-password";
const storedKey = "5e".repeat(32);
const storedPassword = "stored-machine-mqtt-password";
const catalog = {
  currency: "EUR",
  products: {
    A1: { name: "Still water", sku: "WATER-05", priceMinor: 150 },
    A2: { name: "Cola", sku: "COLA-033", priceMinor: 200 },
  },
};

describe("vend-bridge machines add|list|remove", () => {
  let dir: string;
  let storeUrl: string;
  const files: Record<string, string> = {};

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "vend-bridge-machines-"));
    storeUrl = `sqlite:${join(dir, "store", "bridge.db")}`;
    const bridgeConfig = (machines: Record<string, unknown>) => ({
      ...testOnlyInsecureChoices(),
      http: { plainHttp: true, publicBaseUrl: "http://127.0.0.1:1/seqr" },
      seqr: { endpointUrl: "http://127.0.0.1:1/soap", terminalId: "t", password: "secret-terminal-password" },
      store: { url: storeUrl },
      machines,
    });
    const write = (name: string, text: string) => {
      files[name] = join(dir, name);
      writeFileSync(files[name], text);
    };
    write(
      "bridge.yaml",
      YAML.stringify(
        bridgeConfig({ CFG1: { name: "From the file", commandKey: configKey, mqttPassword: configPassword, catalog } }),
      ),
    );
    // The same store, with a config file that now also defines M2 (a stored machine): the file wins.
    write(
      "bridge-m2.yaml",
      YAML.stringify(
        bridgeConfig({
          M2: {
            commandKey: configKey,
            catalog: { currency: "SEK", products: { B1: { name: "Bar", sku: "B", priceMinor: 1500 } } },
          },
        }),
      ),
    );
    write("catalog.yaml", YAML.stringify(catalog));
    write("catalog.json", JSON.stringify(catalog));
    write("empty-catalog.yaml", "currency: EUR\nproducts: {}\n");
    write("negative-price.yaml", "currency: EUR\nproducts:\n  A1: { name: Water, sku: W, priceMinor: -5 }\n");
    write("broken.yaml", "currency: EUR\nproducts: [\n");
    write("key", `${storedKey}\n`);
    write("bad-key", "not-a-hex-key-at-all\n");
    write("password", `${storedPassword}\n`);
    write("short-password", "short\n");
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const machines = async (args: string[], config = files["bridge.yaml"]!): Promise<CliRun> => {
    const out = captureOutput();
    const code = await runCli("vend-bridge", bridgeToolCommands, ["machines", ...args, "--config", config], {
      out,
      env: {},
    });
    return { code, stdout: out.stdout, stderr: out.stderr };
  };
  const machinesProcess = (args: string[], config = files["bridge.yaml"]!) =>
    runProgram("backend-bridge/main.ts", ["machines", ...args, "--config", config], {}, 90_000);

  async function stored(): Promise<StoredMachine[]> {
    const { store } = await openStore(storeUrl);
    try {
      return await store.listMachines();
    } finally {
      await store.close();
    }
  }

  function expectNoSecrets(run: CliRun): void {
    const output = run.stdout + run.stderr;
    for (const secret of [configKey, configPassword, storedKey, storedPassword, "scrypt$"]) {
      expect(output).not.toContain(secret);
    }
  }

  /** A clear one-line reason, not a stack trace. */
  function expectCleanError(run: CliRun, code: number, message: RegExp): void {
    expect(run.code, run.stderr).toBe(code);
    expect(run.stderr).toMatch(message);
    expect(run.stderr).not.toMatch(/\n\s+at /);
    expectNoSecrets(run);
  }

  it("add refuses bad input with a clear error and a nonzero exit, and stores nothing", async () => {
    const attempts: string[][] = [
      ["bad/id!", "--catalog", files["catalog.yaml"]!],
      ["M1"],
      ["M1", "--catalog", join(dir, "no-such-catalog.yaml")],
      ["M1", "--catalog", files["broken.yaml"]!],
      ["M1", "--catalog", files["empty-catalog.yaml"]!],
      ["M1", "--catalog", files["negative-price.yaml"]!],
      ["M1", "--catalog", files["catalog.yaml"]!, "--command-key-file", files["bad-key"]!],
      ["M1", "--catalog", files["catalog.yaml"]!, "--command-key-file", join(dir, "no-such-key")],
      [
        "M1",
        "--catalog",
        files["catalog.yaml"]!,
        "--command-key-file",
        files.key!,
        "--mqtt-password-file",
        files["short-password"]!,
      ],
      ["CFG1", "--catalog", files["catalog.yaml"]!, "--command-key-file", files.key!],
      ["vend-bridge", "--catalog", files["catalog.yaml"]!],
    ];
    const runs: CliRun[] = [];
    for (const args of attempts) runs.push(await machines(["add", ...args]));
    const [
      badId,
      noCatalog,
      missing,
      broken,
      empty,
      negative,
      badKey,
      missingKey,
      shortPassword,
      inConfig,
      bridgeUser,
    ] = runs;
    expectCleanError(badId!, 2, /'bad\/id!' is not a machine id: 1-32 characters/);
    expectCleanError(noCatalog!, 2, /add needs --catalog FILE/);
    expectCleanError(missing!, 2, /cannot read the catalog file .*no-such-catalog\.yaml: ENOENT/);
    expectCleanError(broken!, 2, /catalog file .*broken\.yaml is not YAML or JSON/);
    expectCleanError(empty!, 2, /catalog\.products: the catalog needs at least one product/);
    expectCleanError(negative!, 2, /catalog\.products\.A1\.priceMinor/);
    expectCleanError(badKey!, 2, /commandKey: must be 32 to 64 bytes written as hex/);
    expect(badKey!.stderr).not.toContain("not-a-hex-key-at-all");
    expectCleanError(missingKey!, 2, /cannot read the command key file .*no-such-key: ENOENT/);
    expectCleanError(shortPassword!, 2, /mqttPassword: .*12/);
    expect(shortPassword!.stderr).not.toContain("short\n");
    expectCleanError(inConfig!, 1, /machine CFG1 is defined in the config file; change it there/);
    expectCleanError(bridgeUser!, 2, /bridge's own MQTT username/);
    for (const run of runs.filter((run) => run !== bridgeUser)) {
      expect(run!.stdout).not.toMatch(/added/);
    }
    expect(await stored()).toEqual([]);

    // The real program, for the exit code and the clean one-line error a technician sees.
    expectCleanError(
      await machinesProcess(["add", "bad/id!", "--catalog", files["catalog.yaml"]!]),
      2,
      /is not a machine id/,
    );
    expect(await stored()).toEqual([]);
  }, 180_000);

  it("adds, lists (never a secret, --json too) and removes stored machines; config machines stay the file's", async () => {
    const added = await machines([
      "add",
      "M1",
      "--catalog",
      files["catalog.yaml"]!,
      "--name",
      "Lobby, 2nd floor",
      "--command-key-file",
      files.key!,
      "--mqtt-password-file",
      files.password!,
    ]);
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toMatch(/added M1/);
    expectNoSecrets(added);

    // Without a key file the key is generated and shown once: the agent's config needs the same key.
    const generated = await machines(["add", "M2", "--catalog", files["catalog.json"]!]);
    expect(generated.code, generated.stderr).toBe(0);
    const shownKey = /command key \(.*\): ([0-9a-f]{64})\n/.exec(generated.stdout)?.[1];
    expect(shownKey).toBeDefined();

    // What the store holds: the key, and only a hash of the password.
    const rows = await stored();
    expect(rows.map((row) => row.machineId)).toEqual(["M1", "M2"]);
    const m1 = storedMachineEntry.parse(JSON.parse(rows[0]!.entry));
    expect(m1).toMatchObject({ name: "Lobby, 2nd floor", commandKey: storedKey, catalog });
    expect(rows[0]!.entry).not.toContain(storedPassword);
    // Stored in the current (fast, Mosquitto-compatible) form, never the secret itself.
    expect(m1.mqttPasswordHash).toMatch(/^\$7\$101\$/);
    expect(needsRehash(m1.mqttPasswordHash ?? "")).toBe(false);
    expect(await verifyMachineSecret(Buffer.from(storedPassword), m1.mqttPasswordHash!)).toBe(true);
    expect(storedMachineEntry.parse(JSON.parse(rows[1]!.entry)).commandKey).toBe(shownKey);

    // One at a time: each command opens the store itself, as a technician's commands would.
    const list = await machines(["list"]);
    const json = await machines(["list", "--json"]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/^CFG1\s+config\s+EUR 2 products\s+From the file$/m);
    expect(list.stdout).toMatch(/^M1\s+store\s+EUR 2 products\s+Lobby, 2nd floor$/m);
    expect(list.stdout).toMatch(/^M2\s+store\s+EUR 2 products\s*$/m);
    expectNoSecrets(list);
    expect(list.stdout).not.toContain(shownKey);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual([
      { id: "CFG1", name: "From the file", source: "config", currency: "EUR", products: 2, unavailable: null },
      { id: "M1", name: "Lobby, 2nd floor", source: "store", currency: "EUR", products: 2, unavailable: null },
      { id: "M2", name: null, source: "store", currency: "EUR", products: 2, unavailable: null },
    ]);
    expectNoSecrets(json);
    expect(json.stdout).not.toContain(shownKey);

    // A config file that defines M2 too: its entry is the one in effect, and the command line cannot remove it.
    const shadowed = await machines(["list", "--json"], files["bridge-m2.yaml"]);
    const removeShadowed = await machines(["remove", "M2"], files["bridge-m2.yaml"]);
    const removeConfig = await machines(["remove", "CFG1"]);
    expect(JSON.parse(shadowed.stdout)).toEqual([
      { id: "M1", name: "Lobby, 2nd floor", source: "store", currency: "EUR", products: 2, unavailable: null },
      { id: "M2", name: null, source: "config", currency: "SEK", products: 1, unavailable: null },
    ]);
    expectCleanError(removeShadowed, 1, /machine M2 is defined in the config file; remove it there/);
    expectCleanError(removeConfig, 1, /machine CFG1 is defined in the config file; remove it there/);
    expect((await stored()).map((row) => row.machineId)).toEqual(["M1", "M2"]);

    const removed = await machines(["remove", "M1"]);
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toMatch(/removed M1/);
    const again = await machines(["remove", "M1"]);
    const after = await machines(["list", "--json"]);
    expectCleanError(again, 1, /machine M1 is not in the store/);
    expect(JSON.parse(after.stdout).map((row: { id: string }) => row.id)).toEqual(["CFG1", "M2"]);
    expect((await stored()).map((row) => row.machineId)).toEqual(["M2"]);

    // The real program lists what the in-process commands stored, and prints no secret.
    const listed = await machinesProcess(["list", "--json"]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout).map((row: { id: string }) => row.id)).toEqual(["CFG1", "M2"]);
    expectNoSecrets(listed);
  }, 180_000);
});
