import { spawnSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import YAML from "yaml";
import { hashPassword } from "../../backend-bridge/broker/password-hash.ts";
import { bridgeToolCommands } from "../../backend-bridge/cli/commands.ts";
import { openStore } from "../../backend-bridge/store/open-store.ts";
import { bridgeConfigSchema } from "../../config/schema/bridge.ts";
import { runCli } from "../../platform/cli.ts";
import { captureOutput } from "../cli/capture-output.ts";
import { freePort, MosquittoProcess } from "../fleet/mosquitto-process.ts";
import { testOnlyInsecureChoices } from "../helpers/bridge-test-config.ts";
import { hasTool } from "../helpers/system-tools.ts";
import { aclSuite } from "./acl-suite.ts";
import { closed, testScryptCost, tryConnect, waitFor } from "./helpers.ts";
import { makeTlsFixtures, type TlsFixtures } from "./tls-fixtures.ts";

/**
 * The external-Mosquitto mode end to end (issue 17): Mosquitto started with the mosquitto.conf of
 * docs/external-mosquitto.md exactly as printed there (only its directories and ports moved to temporary ones),
 * provisioned by `vend-bridge machines add` from the bridge's store, then the ACL suite the embedded broker passes, then
 * `remove` and `rotate-password` with the reload they trigger.
 */

const guide = "docs/external-mosquitto.md";
const root = "vending/v1";
const bridgeUser = { username: "vend-bridge", password: "bridge-password-mosquitto" };
const passwords = { M1: "password-of-m1-mosquitto", M2: "password-of-m2-mosquitto" };
const catalog = { currency: "EUR", products: { A1: { name: "Water", sku: "W", priceMinor: 150 } } };

/** The first ```conf block after the marker comment of the guide: the config the operator copies. */
export function guideMosquittoConf(): string {
  const text = readFileSync(guide, "utf8");
  const match =
    /<!-- mosquitto\.conf: tested by test\/broker\/acl-mosquitto\.test\.ts -->\n```conf\n([\s\S]*?)```/.exec(text);
  if (!match?.[1]) throw new Error(`${guide} has no tested mosquitto.conf block`);
  return match[1];
}

/** The guide's bridge.yaml block. */
function guideBridgeYaml(): Record<string, unknown> {
  const match = /## bridge\.yaml\n\n```yaml\n([\s\S]*?)```/.exec(readFileSync(guide, "utf8"));
  if (!match?.[1]) throw new Error(`${guide} has no bridge.yaml block`);
  return YAML.parse(match[1]);
}

/** Replaces each `from` (which must occur) by `to`: a guide edit that drops a line fails here, not silently. */
function relocate(conf: string, moves: [string, string][]): string {
  let out = conf;
  for (const [from, to] of moves) {
    expect(out.includes(from), `the guide's mosquitto.conf has ${from}`).toBe(true);
    out = out.split(from).join(to);
  }
  return out;
}

const asRoot = process.getuid?.() === 0;
const mosquittoIds = (() => {
  const run = spawnSync("id", ["mosquitto"], { encoding: "utf8" });
  const uid = /uid=(\d+)/.exec(run.stdout)?.[1];
  const gid = /gid=(\d+)/.exec(run.stdout)?.[1];
  return uid && gid ? { uid: Number(uid), gid: Number(gid) } : undefined;
})();

describe.runIf(hasTool("mosquitto"))("ACL suite: Mosquitto provisioned by vend-bridge machines", () => {
  let dir: string;
  let tls: TlsFixtures;
  let mosquitto: MosquittoProcess;
  let plainPort: number;
  let tlsPort: number;
  const current = { ...passwords };
  const paths = {} as Record<"etc" | "run" | "lib" | "config" | "passwd" | "acl" | "pid", string>;

  const machines = async (...args: string[]) => {
    const out = captureOutput();
    const code = await runCli("vend-bridge", bridgeToolCommands, ["machines", ...args, "--config", paths.config], {
      out,
      env: {},
    });
    return { code, stdout: out.stdout, stderr: out.stderr };
  };
  const writeSecret = (name: string, text: string) => {
    const file = join(dir, name);
    writeFileSync(file, `${text}\n`, { mode: 0o600 });
    return file;
  };
  const login = (id: "M1" | "M2", password: string, clientId = `${id}:login`) =>
    tryConnect(`mqtt://127.0.0.1:${plainPort}`, { clientId, username: id, password });
  /** After a reload: the login's CONNACK code once it is refused (Mosquitto reloads at its next loop turn), 10 s at most. */
  const refusedSoon = async (id: "M1" | "M2", password: string): Promise<number | undefined> => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const result = await login(id, password);
      if (!result.ok) return result.code;
      await result.client.endAsync(true);
      if (Date.now() > deadline) return undefined;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "acl-mosquitto-"));
    // Mosquitto started as root drops to its own user: it must reach its directories, as it does in /etc and /run.
    chmodSync(dir, 0o755);
    paths.etc = join(dir, "etc", "mosquitto");
    paths.run = join(dir, "run", "mosquitto");
    paths.lib = join(dir, "var", "lib", "mosquitto");
    for (const sub of ["vend", "certs"]) mkdirSync(join(paths.etc, sub), { recursive: true, mode: 0o750 });
    for (const own of [paths.run, paths.lib]) mkdirSync(own, { recursive: true, mode: 0o750 });
    for (const parent of [join(dir, "etc"), paths.etc, join(dir, "run"), join(dir, "var"), join(dir, "var", "lib")]) {
      chmodSync(parent, 0o755);
    }
    tls = makeTlsFixtures();
    copyFileSync(join(tls.dir, "server.pem"), join(paths.etc, "certs", "server.pem"));
    copyFileSync(join(tls.dir, "server.key"), join(paths.etc, "certs", "server.key"));
    // As the guide says: `install -d -o root -g mosquitto -m 0750`, files 0640 in that group.
    if (asRoot && mosquittoIds) {
      for (const sub of ["vend", "certs"]) chownSync(join(paths.etc, sub), 0, mosquittoIds.gid);
      for (const file of ["server.pem", "server.key"]) {
        chownSync(join(paths.etc, "certs", file), 0, mosquittoIds.gid);
        chmodSync(join(paths.etc, "certs", file), 0o640);
      }
      for (const own of [paths.run, paths.lib]) chownSync(own, mosquittoIds.uid, mosquittoIds.gid);
    }
    paths.passwd = join(paths.etc, "vend", "passwd");
    paths.acl = join(paths.etc, "vend", "acl");
    paths.pid = join(paths.run, "mosquitto.pid");
    plainPort = await freePort();
    tlsPort = await freePort();

    // The guide's bridge.yaml, with the same directories moved, and what a test bridge needs besides.
    const guideConfig = guideBridgeYaml() as { broker: Record<string, unknown>; bridgeMqtt: Record<string, unknown> };
    const moved = JSON.parse(
      JSON.stringify(guideConfig.broker)
        .split("/etc/mosquitto/")
        .join(`${paths.etc}/`)
        .split("/run/mosquitto/")
        .join(`${paths.run}/`),
    );
    const config = {
      ...testOnlyInsecureChoices(),
      http: { plainHttp: true, publicBaseUrl: "http://127.0.0.1:1/seqr" },
      seqr: { endpointUrl: "http://127.0.0.1:1/soap", terminalId: "t", password: "secret-terminal-password" },
      store: { url: `sqlite:${join(dir, "store", "bridge.db")}` },
      broker: { ...moved, url: `mqtt://127.0.0.1:${plainPort}` },
      bridgeMqtt: { ...guideConfig.bridgeMqtt, password: bridgeUser.password },
    };
    expect(bridgeConfigSchema.safeParse(config).error).toBeUndefined();
    paths.config = join(dir, "bridge.yaml");
    writeFileSync(paths.config, YAML.stringify(config));
    writeFileSync(join(dir, "catalog.yaml"), YAML.stringify(catalog));

    // Machines first, as on a first install: Mosquitto is not running yet, the files are written all the same.
    for (const id of ["M1", "M2"] as const) {
      const run = await machines(
        "add",
        id,
        "--catalog",
        join(dir, "catalog.yaml"),
        "--mqtt-password-file",
        writeSecret(`${id}.password`, passwords[id]),
      );
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toContain("not reloaded: Mosquitto is not running");
    }
    // A machine stored before issue 17, with a scrypt hash: it cannot be exported, and the export says what to do.
    const { store } = await openStore(`sqlite:${join(dir, "store", "bridge.db")}`);
    try {
      await store.putMachine(
        "OLD1",
        JSON.stringify({
          catalog,
          commandKey: "ab".repeat(32),
          mqttPasswordHash: hashPassword("password-of-old1", testScryptCost),
        }),
        Date.now(),
      );
    } finally {
      await store.close();
    }

    // The lines an operator must not lose (each one's reason is in the guide).
    const guideConf = guideMosquittoConf();
    for (const line of [
      "allow_anonymous false",
      "password_file /etc/mosquitto/vend/passwd",
      "acl_file /etc/mosquitto/vend/acl",
      "set_tcp_nodelay true",
      "max_inflight_messages 20",
      "persistence true",
      "certfile /etc/mosquitto/certs/server.pem",
      "keyfile /etc/mosquitto/certs/server.key",
    ]) {
      expect(guideConf.split("\n"), line).toContain(line);
    }
    const conf = relocate(guideConf, [
      ["/etc/mosquitto/", `${paths.etc}/`],
      ["/run/mosquitto/", `${paths.run}/`],
      ["/var/lib/mosquitto/", `${paths.lib}/`],
      ["listener 1883 127.0.0.1", `listener ${plainPort} 127.0.0.1`],
      ["listener 8883\n", `listener ${tlsPort} 127.0.0.1\n`],
    ]);
    mosquitto = await MosquittoProcess.start({ port: plainPort, config: conf });
    await waitFor(
      () => {
        try {
          return readFileSync(paths.pid, "utf8").trim() === String(mosquitto.pid);
        } catch {
          return false;
        }
      },
      10_000,
      "Mosquitto's pid file",
    );
  }, 60_000);

  afterAll(async () => {
    await mosquitto?.close();
    tls?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("export-mosquitto writes both files from the store, reloads, and names the machine it cannot export", async () => {
    const run = await machines("export-mosquitto");
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`reloaded Mosquitto: SIGHUP to pid ${mosquitto.pid}`);
    expect(run.stdout).toMatch(/not in Mosquitto: OLD1: .*older scrypt form.*machines rotate-password OLD1/);
    const users = readFileSync(paths.passwd, "utf8")
      .trim()
      .split("\n")
      .map((line) => line.split(":")[0]);
    expect(users).toEqual(["M1", "M2", "vend-bridge"]);
    expect(readFileSync(paths.passwd, "utf8")).toMatch(/^M1:\$7\$101\$/);
    const acl = readFileSync(paths.acl, "utf8");
    expect(acl).toContain(`user vend-bridge\ntopic readwrite ${root}/#\n`);
    expect(acl.match(/^pattern /gm)).toHaveLength(4);
    for (const file of [paths.passwd, paths.acl]) {
      const stat = statSync(file);
      expect(stat.mode & 0o777, file).toBe(0o640);
      if (asRoot && mosquittoIds) expect(stat.gid, file).toBe(mosquittoIds.gid);
    }
    const old = await tryConnect(`mqtt://127.0.0.1:${plainPort}`, {
      clientId: "OLD1",
      username: "OLD1",
      password: "password-of-old1",
    });
    expect(old).toMatchObject({ ok: false, code: 5 });
  });

  aclSuite({
    url: () => `mqtt://127.0.0.1:${plainPort}`,
    root,
    password: (id) => current[id],
    bridge: bridgeUser,
    sharedSubscriptionGroup: "vend-bridge",
    behaviour: {
      refusedLogin: { wrongPassword: 5, unknownUser: 5, anonymous: 5 },
      forbiddenPublish: "drops the message",
      forbiddenSubscribe: "granted, never delivered",
      foreignWill: "accepted, never published",
      retainedEvent: "kept by the broker",
      foreignClientId: "accepted",
      bridgeScope: "its root topic only",
    },
  });

  it("serves the machines over TLS with the guide's certificate lines", async () => {
    const result = await tryConnect(`mqtts://127.0.0.1:${tlsPort}`, {
      clientId: "M1:tls",
      username: "M1",
      password: current.M1,
      ca: tls.ca,
      servername: "localhost",
    });
    expect(result.ok, result.ok ? "" : result.message).toBe(true);
    if (result.ok) await result.client.endAsync(true);
  });

  it("machines remove: Mosquitto reloads, closes the removed machine's connection and refuses its next login", async () => {
    const online = await login("M2", current.M2, "M2");
    expect(online.ok).toBe(true);
    if (!online.ok) return;
    const gone = closed(online.client, 10_000);
    const run = await machines("remove", "M2");
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`reloaded Mosquitto: SIGHUP to pid ${mosquitto.pid}`);
    expect(await refusedSoon("M2", current.M2)).toBe(5);
    expect(await gone).toBe(true);
    expect(readFileSync(paths.passwd, "utf8")).not.toMatch(/^M2:/m);
    // The others are untouched.
    const m1 = await login("M1", current.M1);
    expect(m1.ok).toBe(true);
    if (m1.ok) await m1.client.endAsync(true);
  });

  it("machines rotate-password: the old secret is refused after the reload, the new one accepted", async () => {
    const old = current.M1;
    const next = "rotated-password-of-m1";
    const run = await machines("rotate-password", "M1", "--mqtt-password-file", writeSecret("M1.next", next));
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout + run.stderr).not.toContain(next);
    expect(await refusedSoon("M1", old)).toBe(5);
    const fresh = await login("M1", next);
    expect(fresh.ok).toBe(true);
    if (fresh.ok) await fresh.client.endAsync(true);
    current.M1 = next;
  });
});
