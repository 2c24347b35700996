import { spawnSync } from "node:child_process";
import { pbkdf2Sync } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LoginThrottle } from "../../backend-bridge/broker/login-throttle.ts";
import {
  hashMachineSecret,
  isMachineSecretHash,
  needsRehash,
  ScryptGate,
  verifyMachineSecret,
} from "../../backend-bridge/broker/machine-secret.ts";
import { hashPassword } from "../../backend-bridge/broker/password-hash.ts";
import { hasTool } from "../helpers/system-tools.ts";
import { testScryptCost } from "./helpers.ts";

describe("machine secrets at rest: Mosquitto's PBKDF2-SHA512 form (issue 17)", () => {
  it("stores $7$101$<12-byte salt>$<64-byte hash>, verifies the right secret only, a new salt each time", async () => {
    const stored = hashMachineSecret("3f9c0a1b2c3d4e5f");
    const [, scheme, rounds, salt, hash] = stored.split("$");
    expect([scheme, rounds]).toEqual(["7", "101"]);
    expect(Buffer.from(salt ?? "", "base64")).toHaveLength(12);
    expect(Buffer.from(hash ?? "", "base64")).toHaveLength(64);
    expect(stored).not.toContain("3f9c0a1b2c3d4e5f");
    expect(await verifyMachineSecret("3f9c0a1b2c3d4e5f", stored)).toBe(true);
    expect(await verifyMachineSecret(Buffer.from("3f9c0a1b2c3d4e5f"), stored)).toBe(true);
    expect(await verifyMachineSecret("3f9c0a1b2c3d4e5e", stored)).toBe(false);
    expect(await verifyMachineSecret("", stored)).toBe(false);
    expect(hashMachineSecret("same")).not.toBe(hashMachineSecret("same"));
    expect(needsRehash(stored)).toBe(false);
    expect(isMachineSecretHash(stored)).toBe(true);
  });

  it("refuses malformed or tampered entries without heavy work", async () => {
    const [, , , salt, hash] = hashMachineSecret("pw").split("$");
    expect(await verifyMachineSecret("pw", `$7$101$${salt}$${hash}`)).toBe(true);
    for (const stored of [
      "",
      "$7$$$",
      `$7$0$${salt}$${hash}`,
      `$7$100001$${salt}$${hash}`,
      `$7$101$${salt}$${Buffer.alloc(32).toString("base64")}`,
      `$6$101$${salt}$${hash}`,
      `$7$101$${salt}$${hash}$extra`,
    ]) {
      const started = performance.now();
      expect(await verifyMachineSecret("pw", stored), stored).toBe(false);
      expect(performance.now() - started, stored).toBeLessThan(1_000);
    }
    expect(isMachineSecretHash("$7$101$x")).toBe(false);
  });

  it("takes any iteration count from 1 to 100,000 as written, and refuses a correct entry above it unchecked", async () => {
    const entry = (rounds: number, secret: string) => {
      const salt = Buffer.from("0123456789ab");
      const hash = pbkdf2Sync(secret, salt, rounds, 64, "sha512");
      return `$7$${rounds}$${salt.toString("base64")}$${hash.toString("base64")}`;
    };
    expect(await verifyMachineSecret("s1", entry(1, "s1"))).toBe(true);
    expect(await verifyMachineSecret("s2", entry(100_000, "s2"))).toBe(true);
    // A tampered store must not make a login cost more: a right answer at 100,001 iterations is still refused.
    expect(await verifyMachineSecret("s3", entry(100_001, "s3"))).toBe(false);
  });

  it("an older scrypt entry still verifies, and is marked for rehashing", async () => {
    const legacy = hashPassword("legacy-secret", testScryptCost);
    expect(isMachineSecretHash(legacy)).toBe(true);
    expect(needsRehash(legacy)).toBe(true);
    expect(await verifyMachineSecret("legacy-secret", legacy)).toBe(true);
    expect(await verifyMachineSecret("legacy-secreT", legacy)).toBe(false);
  });

  it.runIf(hasTool("mosquitto_passwd"))(
    "reads what mosquitto_passwd writes, and writes what Mosquitto reads (the same line works in its password file)",
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "machine-secret-"));
      try {
        const file = join(dir, "passwd");
        writeFileSync(file, "");
        const made = spawnSync("mosquitto_passwd", ["-b", file, "M0042", "a1b2c3d4e5f60718"], { encoding: "utf8" });
        expect(made.status, made.stderr).toBe(0);
        const theirs = readFileSync(file, "utf8").trim().slice("M0042:".length);
        expect(await verifyMachineSecret("a1b2c3d4e5f60718", theirs)).toBe(true);
        expect(await verifyMachineSecret("a1b2c3d4e5f60719", theirs)).toBe(false);
        // Ours, checked by Mosquitto's own tool: -U rehashes plain lines only, so a line it leaves alone is one it
        // parses as a hash; the broker-level check is in the Mosquitto ACL suite.
        writeFileSync(file, `M0043:${hashMachineSecret("b1b2")}\n`);
        const kept = spawnSync("mosquitto_passwd", ["-U", file], { encoding: "utf8" });
        expect(kept.status, kept.stderr).toBe(0);
        expect(readFileSync(file, "utf8")).toMatch(/^M0043:\$7\$101\$/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});

describe("ScryptGate: old entries verify a few at a time", () => {
  it("runs at most `limit` at once, in order, and passes each slot on", async () => {
    const gate = new ScryptGate(2);
    let running = 0;
    let most = 0;
    const order: number[] = [];
    const releases: Array<() => void> = [];
    const work = (index: number) =>
      gate.run(async () => {
        running += 1;
        most = Math.max(most, running);
        order.push(index);
        await new Promise<void>((resolve) => releases.push(resolve));
        running -= 1;
        return index;
      });
    const all = Promise.all([0, 1, 2, 3, 4].map(work));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(order).toEqual([0, 1]);
    expect(gate.waiting).toBe(3);
    while (order.length < 5 || releases.length > 0) {
      releases.shift()?.();
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    expect(await all).toEqual([0, 1, 2, 3, 4]);
    expect(most).toBe(2);
    expect(order).toEqual([0, 1, 2, 3, 4]);
    expect([gate.running, gate.waiting]).toEqual([0, 0]);
  });

  it("a failing verification frees its slot", async () => {
    const gate = new ScryptGate(1);
    await expect(gate.run(() => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(await gate.run(async () => "next")).toBe("next");
    expect(gate.running).toBe(0);
  });
});

describe("LoginThrottle", () => {
  const limits = { windowMs: 60_000, perAddress: 5, perMachineAndAddress: 3 };

  it("counts failures per machine and address, and per address, over a sliding window", () => {
    const throttle = new LoginThrottle(limits);
    for (let i = 0; i < 3; i++) {
      expect(throttle.refusal("M1", "10.0.0.9", i)).toBeUndefined();
      throttle.failed("M1", "10.0.0.9", i);
    }
    expect(throttle.refusal("M1", "10.0.0.9", 3)).toBe("too many failed logins for M1 from 10.0.0.9");
    // The real machine elsewhere is not affected; another machine from the same address not yet.
    expect(throttle.refusal("M1", "10.0.0.1", 3)).toBeUndefined();
    expect(throttle.refusal("M2", "10.0.0.9", 3)).toBeUndefined();
    throttle.failed("M2", "10.0.0.9", 4);
    throttle.failed("M3", "10.0.0.9", 5);
    expect(throttle.refusal("M4", "10.0.0.9", 6)).toBe("too many failed logins from 10.0.0.9");
    // The window slides: the first failures (at 0, 1, 2 ms) are out of it at 60,002 ms.
    expect(throttle.refusal("M1", "10.0.0.9", 60_002)).toBeUndefined();
    expect(throttle.refusal("M4", "10.0.0.9", 60_005)).toBeUndefined();
  });

  it("a good login clears its own pair only; prune forgets quiet keys; a flood keeps a bounded list", () => {
    const throttle = new LoginThrottle(limits);
    for (let i = 0; i < 1_000; i++) throttle.failed("M1", "10.0.0.9", i);
    expect(throttle.refusal("M1", "10.0.0.9", 1_000)).toBeDefined();
    throttle.succeeded("M1", "10.0.0.9");
    // The address stays over its own limit.
    expect(throttle.refusal("M1", "10.0.0.9", 1_000)).toBe("too many failed logins from 10.0.0.9");
    expect(throttle.size).toBe(1);
    // Ten failures kept per key at most (the larger limit), not a thousand.
    expect(throttle.storedFailures).toBe(5);
    throttle.prune(70_000);
    expect(throttle.size).toBe(0);
  });

  it("a failure exactly a window old no longer counts; prune keeps keys still inside the window; a key found empty goes", () => {
    const throttle = new LoginThrottle({ windowMs: 60_000, perAddress: 50, perMachineAndAddress: 1 });
    throttle.failed("M1", "10.0.0.9", 0);
    expect(throttle.refusal("M1", "10.0.0.9", 59_999)).toBeDefined();
    expect(throttle.refusal("M1", "10.0.0.9", 60_000)).toBeUndefined();
    // Looking at the expired keys (the pair and the address) dropped them.
    expect(throttle.size).toBe(0);
    throttle.failed("M2", "10.0.0.8", 50_000);
    throttle.prune(70_000);
    expect(throttle.size).toBe(2);
    throttle.prune(110_000);
    expect(throttle.size).toBe(0);
  });
});
