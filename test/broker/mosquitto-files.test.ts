import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { writeFileAtomic } from "../../backend-bridge/broker/atomic-file.ts";
import { hashMachineSecret, verifyMachineSecret } from "../../backend-bridge/broker/machine-secret.ts";
import { mosquittoAclFile, mosquittoPasswordFile } from "../../backend-bridge/broker/mosquitto-files.ts";
import { reloadMosquitto } from "../../backend-bridge/broker/mosquitto-provisioning.ts";
import { hashPassword } from "../../backend-bridge/broker/password-hash.ts";
import { MachineRegistry } from "../../backend-bridge/registry/machine-registry.ts";
import { openStore } from "../../backend-bridge/store/open-store.ts";
import { bridgeConfigSchema } from "../../config/schema/bridge.ts";
import { systemClock } from "../../platform/clock.ts";
import { minimalTestBridgeConfig } from "../helpers/bridge-test-config.ts";
import { testScryptCost } from "./helpers.ts";

/** The generated files, their atomic writing, the reload and the config's rules (issue 17; end to end: acl-mosquitto). */

describe("Mosquitto's password file and ACL from the store", () => {
  it("lists every login as user:$7$ hash, sorted, and refuses what Mosquitto would misread", () => {
    const m2 = hashMachineSecret("password-of-m2");
    const m1 = hashMachineSecret("password-of-m1");
    expect(
      mosquittoPasswordFile([
        { username: "M2", passwordHash: m2 },
        { username: "M1", passwordHash: m1 },
      ]),
    ).toBe(`M1:${m1}\nM2:${m2}\n`);
    expect(mosquittoPasswordFile([])).toBe("");
    const bad =
      (username: string, passwordHash = m1) =>
      () =>
        mosquittoPasswordFile([{ username, passwordHash }]);
    for (const username of ["a:b", "a b", "a+", "a#", "a/b", "", "a\nb"]) expect(bad(username)).toThrow(/user name/);
    expect(bad("M1", hashPassword("x", testScryptCost))).toThrow(/not in Mosquitto's \$7\$ format/);
    expect(() =>
      mosquittoPasswordFile([
        { username: "M1", passwordHash: m1 },
        { username: "M1", passwordHash: m1 },
      ]),
    ).toThrow(/twice/);
  });

  it("gives the bridge its root only and every machine its own topics through four pattern lines", () => {
    const acl = mosquittoAclFile("fleet/v1", "bridge-user");
    expect(acl.split("\n").filter((line) => line !== "" && !line.startsWith("#"))).toEqual([
      "user bridge-user",
      "topic readwrite fleet/v1/#",
      "pattern write fleet/v1/%u/availability",
      "pattern write fleet/v1/%u/state",
      "pattern write fleet/v1/%u/event/+",
      "pattern read fleet/v1/%u/cmd/+",
    ]);
    expect(() => mosquittoAclFile("fleet/v1", "has space")).toThrow(/user name/);
  });
});

describe("writeFileAtomic", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "atomic-file-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("makes a new file 0640, replaces an old one keeping its mode, and leaves no temp file", () => {
    const fresh = join(dir, "passwd");
    writeFileAtomic(fresh, "one\n");
    expect(readFileSync(fresh, "utf8")).toBe("one\n");
    expect(statSync(fresh).mode & 0o777).toBe(0o640);
    const tight = join(dir, "acl");
    writeFileSync(tight, "old", { mode: 0o600 });
    writeFileAtomic(tight, "new\n");
    expect(readFileSync(tight, "utf8")).toBe("new\n");
    expect(statSync(tight).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir).sort()).toEqual(["acl", "passwd"]);
  });

  it("fails without touching the old file when the directory is missing", () => {
    expect(() => writeFileAtomic(join(dir, "missing", "passwd"), "x")).toThrow(/ENOENT/);
  });
});

describe("reloading Mosquitto", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "mosquitto-reload-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const files = { passwordFile: "/p", aclFile: "/a" };

  it("runs the reload command without a shell and reports its failure with its output", () => {
    expect(reloadMosquitto({ ...files, reloadCommand: ["true"] })).toEqual({ done: true, how: "true" });
    expect(() => reloadMosquitto({ ...files, reloadCommand: ["sh", "-c", "echo no such unit >&2; exit 5"] })).toThrow(
      /exited with 5: no such unit/,
    );
    expect(() => reloadMosquitto({ ...files, reloadCommand: ["/nonexistent/reload"] })).toThrow(/cannot run/);
  });

  it("says Mosquitto is not running when its pid file is absent or names no process, and refuses garbage", () => {
    const pidFile = join(dir, "mosquitto.pid");
    expect(reloadMosquitto({ ...files, pidFile })).toMatchObject({ done: false, why: /not running/ });
    writeFileSync(pidFile, "999999999\n");
    expect(reloadMosquitto({ ...files, pidFile })).toMatchObject({ done: false, why: /no process 999999999/ });
    writeFileSync(pidFile, "not a pid\n");
    expect(() => reloadMosquitto({ ...files, pidFile })).toThrow(/holds no process id/);
  });
});

describe("broker.mosquitto in the bridge's config", () => {
  const withMosquitto = (mosquitto: Record<string, unknown>, password: string | null = "bridge-password-1") => {
    const config = minimalTestBridgeConfig();
    return bridgeConfigSchema.safeParse({
      ...config,
      broker: { mode: "external", url: "mqtt://127.0.0.1:1883", mosquitto },
      bridgeMqtt: password === null ? {} : { password },
    });
  };
  const files = { passwordFile: "/etc/mosquitto/vend/passwd", aclFile: "/etc/mosquitto/vend/acl" };
  const messages = (result: ReturnType<typeof withMosquitto>) =>
    result.error?.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`) ?? [];

  it("takes exactly one way to reload, and the bridge's password", () => {
    expect(withMosquitto({ ...files, pidFile: "/run/mosquitto/mosquitto.pid" }).success).toBe(true);
    expect(withMosquitto({ ...files, reloadCommand: ["systemctl", "reload", "mosquitto"] }).success).toBe(true);
    expect(messages(withMosquitto(files))).toEqual([
      expect.stringMatching(/^broker.mosquitto.pidFile: give exactly one/),
    ]);
    expect(messages(withMosquitto({ ...files, pidFile: "/x", reloadCommand: ["true"] }))).toEqual([
      expect.stringMatching(/^broker.mosquitto.pidFile: give exactly one/),
    ]);
    expect(messages(withMosquitto({ ...files, pidFile: "/x" }, null))).toEqual([
      expect.stringMatching(/^bridgeMqtt.password: required/),
    ]);
  });
});

describe("MachineRegistry.passwordHashes: what the export reads", () => {
  it("gives stored machines their stored hash, config machines a $7$ hash of their password, others none", async () => {
    const dir = mkdtempSync(join(tmpdir(), "registry-hashes-"));
    const { store } = await openStore(`sqlite:${join(dir, "bridge.db")}`);
    try {
      const catalog = { currency: "EUR", products: { A1: { name: "Water", sku: "W", priceMinor: 150 } } };
      const registry = new MachineRegistry({
        machines: { CFG1: { commandKey: "c0".repeat(32), mqttPassword: "config-file-password", catalog } },
        store,
        clock: systemClock,
        cacheMs: 0,
      });
      await registry.add("S1", { commandKey: "5e".repeat(32), mqttPassword: "stored-password-1", catalog });
      await registry.add("S2", { commandKey: "5e".repeat(32), certificateCn: "S2", catalog });
      const hashes = await registry.passwordHashes();
      expect(hashes.map((entry) => entry.machineId)).toEqual(["CFG1", "S1", "S2"]);
      const byId = Object.fromEntries(hashes.map((entry) => [entry.machineId, entry.passwordHash]));
      expect(await verifyMachineSecret("config-file-password", byId.CFG1 ?? "")).toBe(true);
      expect(await verifyMachineSecret("stored-password-1", byId.S1 ?? "")).toBe(true);
      expect(byId.S2).toBeUndefined();
      await registry.rotatePassword("S1", "stored-password-2");
      const rotated = (await registry.passwordHashes()).find((entry) => entry.machineId === "S1")?.passwordHash ?? "";
      expect(await verifyMachineSecret("stored-password-1", rotated)).toBe(false);
      expect(await verifyMachineSecret("stored-password-2", rotated)).toBe(true);
      await expect(registry.rotatePassword("CFG1", "another-password")).rejects.toThrow(/config file/);
      await expect(registry.rotatePassword("NOPE", "another-password")).rejects.toThrow(/not in the store/);
      await expect(registry.rotatePassword("S1", "short")).rejects.toThrow();
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
