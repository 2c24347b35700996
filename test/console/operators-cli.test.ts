import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import YAML from "yaml";
import { verifyPassword } from "../../backend-bridge/broker/password-hash.ts";
import { operatorsCommand } from "../../backend-bridge/console/operators-command.ts";
import { openStore } from "../../backend-bridge/store/open-store.ts";
import { runCli } from "../../platform/cli.ts";
import { captureOutput } from "../cli/capture-output.ts";
import { deepMerge, minimalTestBridgeConfig } from "../helpers/bridge-test-config.ts";

/** `vend-bridge operators add|remove|list` on a SQLite store: the password comes from stdin and only its hash is kept. */
describe("vend-bridge operators", () => {
  let dir: string;
  let config: string;
  let storeUrl: string;
  let typed = "";

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "vend-bridge-operators-"));
    config = join(dir, "bridge.yaml");
    storeUrl = `sqlite:${join(dir, "bridge.db")}`;
    writeFileSync(config, YAML.stringify(deepMerge(minimalTestBridgeConfig(), { store: { url: storeUrl } })));
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function run(...argv: string[]) {
    const out = captureOutput();
    const command = operatorsCommand({ readPassword: async () => typed, scryptCost: { log2N: 4, r: 8, p: 1 } });
    const code = await runCli("vend-bridge", [command], [...argv, "--config", config], { out, env: {} });
    return { code, ...out };
  }

  async function storedHash(name: string): Promise<string | undefined> {
    const { store } = await openStore(storeUrl);
    try {
      return (await store.getOperator(name))?.passwordHash;
    } finally {
      await store.close();
    }
  }

  it("adds an operator with the password from stdin, stored as a scrypt hash", async () => {
    typed = "a long enough password";
    const added = await run("operators", "add", "alice");
    expect(added.code).toBe(0);
    expect(added.stdout).toContain("added operator alice");
    const hash = (await storedHash("alice")) ?? "";
    expect(hash).toMatch(/^scrypt\$/);
    expect(hash).not.toContain(typed);
    expect(await verifyPassword(typed, hash)).toBe(true);
  });

  it("changes the password of an existing operator", async () => {
    typed = "another long password";
    const changed = await run("operators", "add", "alice");
    expect(changed.stdout).toContain("password of operator alice changed");
    expect(await verifyPassword(typed, (await storedHash("alice")) ?? "")).toBe(true);
  });

  it("refuses a short password and a name that is not a token, storing nothing", async () => {
    typed = "short";
    const short = await run("operators", "add", "bob");
    expect(short.code).toBe(2);
    expect(short.stderr).toContain("at least 12 characters");
    expect(await storedHash("bob")).toBeUndefined();
    typed = "a long enough password";
    expect((await run("operators", "add", "bob smith")).code).toBe(2);
  });

  it("lists operators without their hashes and removes one", async () => {
    const listed = await run("operators", "list", "--json");
    expect(listed.code).toBe(0);
    expect(listed.jsonValues[0]).toEqual([expect.objectContaining({ name: "alice" })]);
    expect(listed.stdout).not.toContain("scrypt$");
    expect((await run("operators", "remove", "alice")).code).toBe(0);
    expect(await storedHash("alice")).toBeUndefined();
    const again = await run("operators", "remove", "alice");
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("no operator 'alice'");
  });
});
