import { chmodSync, closeSync, mkdirSync, openSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import YAML from "yaml";
import { storedMachineEntry } from "../../backend-bridge/registry/machine-registry.ts";
import { openStore } from "../../backend-bridge/store/open-store.ts";
import { tempDir } from "../config/fixtures.ts";
import { testOnlyInsecureChoices } from "../helpers/bridge-test-config.ts";
import { type CliRun, runProgram } from "../helpers/run-cli.ts";

/**
 * Issue 18, "secrets at rest": the store (which holds the machines' command keys) is 0600 in directories made 0700,
 * whatever the umask of whoever runs the bridge; keys and passwords are printed only when made; `machines add` never
 * replaces a machine silently. Every command runs as the real CLI in a child process, started under umask 022.
 */

const catalog = { currency: "EUR", products: { A1: { name: "Water", sku: "W", priceMinor: 150 } } };
const password = "machine-password-123456";
const key = "cd".repeat(32);

let dir: string;
let storeFile: string;
let configFile: string;
const files: Record<string, string> = {};
let savedUmask: number;

beforeAll(() => {
  // The children inherit it: a root shell's usual umask, under which a plain create makes files 0644.
  savedUmask = process.umask(0o022);
  dir = tempDir();
  storeFile = join(dir, "var", "lib", "vend-bridge", "bridge.db");
  configFile = join(dir, "bridge.yaml");
  writeFileSync(
    configFile,
    YAML.stringify({
      ...testOnlyInsecureChoices(),
      http: { plainHttp: true, publicBaseUrl: "http://127.0.0.1:1/seqr" },
      seqr: { endpointUrl: "http://127.0.0.1:1/soap", terminalId: "t", password: "secret-terminal-password" },
      store: { url: `sqlite:${storeFile}` },
    }),
  );
  for (const [name, text] of Object.entries({ catalog: YAML.stringify(catalog), password, key })) {
    files[name] = join(dir, name);
    writeFileSync(files[name], `${text}\n`);
  }
});

afterAll(() => {
  process.umask(savedUmask);
});

const machines = (args: string[]): Promise<CliRun> =>
  runProgram("backend-bridge/main.ts", ["machines", ...args, "--config", configFile], {}, 90_000);

async function storedEntry(id: string) {
  const { store } = await openStore(`sqlite:${storeFile}`);
  try {
    const row = await store.getMachine(id);
    return row ? storedMachineEntry.parse(JSON.parse(row.entry)) : undefined;
  } finally {
    await store.close();
  }
}

const mode = (path: string) => statSync(path).mode & 0o777;

/** `machines add <id>` with the catalog, command key and MQTT password all given as files. */
const addWithSecretFiles = (machineId: string) =>
  machines([
    "add",
    machineId,
    "--catalog",
    files.catalog!,
    "--command-key-file",
    files.key!,
    "--mqtt-password-file",
    files.password!,
  ]);

// Each case runs the real CLI as child processes (up to 90 s each on a loaded machine): room for several.
describe("secrets at rest (real CLI, umask 022)", { timeout: 300_000 }, () => {
  it("creates the store 0600 and the directories it makes 0700", async () => {
    const added = await addWithSecretFiles("M1");
    expect(added.code, added.stderr).toBe(0);
    expect(mode(storeFile)).toBe(0o600);
    for (const made of ["var", "var/lib", "var/lib/vend-bridge"]) expect(mode(join(dir, made)), made).toBe(0o700);
    // SQLite's companions (WAL, shared memory), when left behind, are as private as the store.
    for (const name of readdirSync(join(dir, "var/lib/vend-bridge"))) {
      expect(mode(join(dir, "var/lib/vend-bridge", name)), name).toBe(0o600);
    }
    // The tempDir the test made existed before: not the bridge's to change.
    expect(mode(dir)).toBe(statSync(dir).mode & 0o777);
  });

  it("tightens a store an earlier version left 0644", async () => {
    const legacyDir = join(dir, "legacy");
    mkdirSync(legacyDir);
    const legacy = join(legacyDir, "bridge.db");
    closeSync(openSync(legacy, "w", 0o644));
    chmodSync(legacy, 0o644);
    const { store } = await openStore(`sqlite:${legacy}`);
    await store.close();
    expect(mode(legacy)).toBe(0o600);
  });

  it("add says how the machine logs in, and never prints the password or a key it was given", async () => {
    const added = await addWithSecretFiles("M2");
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toContain("MQTT: connects to mqtt://<this server>:0 (plain MQTT: trusted networks only)");
    expect(added.stdout).toContain(`MQTT: logs in with user M2, client id M2, the password from ${files.password}`);
    expect(added.stdout + added.stderr).not.toContain(password);
    expect(added.stdout + added.stderr).not.toContain(key);

    const noLogin = await machines(["add", "M3", "--catalog", files.catalog!, "--command-key-file", files.key!]);
    expect(noLogin.code, noLogin.stderr).toBe(0);
    expect(noLogin.stdout).toMatch(/MQTT: no login yet: the embedded broker refuses M3/);
  });

  it("add on an existing id refuses and changes nothing; --force replaces it", async () => {
    const before = await storedEntry("M2");
    const again = await machines(["add", "M2", "--catalog", files.catalog!, "--name", "Replaced"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/machine M2 is already in the store; nothing changed/);
    expect(again.stderr).toContain("--force");
    expect(again.stderr).toContain("rotate-key M2");
    expect(again.stdout).not.toMatch(/command key/);
    expect(await storedEntry("M2")).toEqual(before);

    const forced = await machines(["add", "M2", "--catalog", files.catalog!, "--name", "Replaced", "--force"]);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toMatch(/replaced M2/);
    const after = await storedEntry("M2");
    expect(after?.name).toBe("Replaced");
    // A generated key, shown this once because it was just made.
    const shown = /command key \(.*\): ([0-9a-f]{64})\n/.exec(forced.stdout)?.[1];
    expect(after?.commandKey).toBe(shown);
  });

  it("rotate-key replaces only the key, prints a generated one once, and no later command prints it", async () => {
    const before = await storedEntry("M1");
    const rotated = await machines(["rotate-key", "M1"]);
    expect(rotated.code, rotated.stderr).toBe(0);
    const shown = /new command key \(.*\): ([0-9a-f]{64})\n/.exec(rotated.stdout)?.[1];
    const after = await storedEntry("M1");
    expect(shown).toBeDefined();
    expect(after).toEqual({ ...before, commandKey: shown });
    expect(after?.commandKey).not.toBe(key);

    const fromFile = await machines(["rotate-key", "M1", "--command-key-file", files.key!]);
    expect(fromFile.code, fromFile.stderr).toBe(0);
    expect(fromFile.stdout).not.toContain(key);
    expect((await storedEntry("M1"))?.commandKey).toBe(key);

    const list = await machines(["list", "--json"]);
    expect(list.code).toBe(0);
    expect(list.stdout + list.stderr).not.toContain(key);
    expect(list.stdout).not.toContain(shown);

    const unknown = await machines(["rotate-key", "NOPE"]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/machine NOPE is not in the store/);
  });
});
