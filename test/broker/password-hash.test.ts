import { scrypt, scryptSync } from "node:crypto";
import { describe, expect, it, vi } from "vitest";
import { credentialsFromConfig } from "../../backend-bridge/broker/machine-credentials.ts";
import {
  hashPassword,
  isPasswordHash,
  VerifiedPasswordCache,
  verifyPassword,
} from "../../backend-bridge/broker/password-hash.ts";
import { testScryptCost } from "./helpers.ts";

// The real scrypt, watched: which costs reach it at all (one test below also answers for it).
vi.mock("node:crypto", async (importOriginal) => {
  const actual = await importOriginal<typeof import("node:crypto")>();
  return { ...actual, scrypt: vi.fn(actual.scrypt) };
});
const scryptCalls = vi.mocked(scrypt);

describe("password hashes (scrypt, per-entry salt)", () => {
  it("verifies the right password only", async () => {
    const stored = hashPassword("correct horse battery", testScryptCost);
    expect(isPasswordHash(stored)).toBe(true);
    expect(await verifyPassword("correct horse battery", stored)).toBe(true);
    expect(await verifyPassword(Buffer.from("correct horse battery"), stored)).toBe(true);
    expect(await verifyPassword("correct horse batterY", stored)).toBe(false);
    expect(await verifyPassword("", stored)).toBe(false);
  });

  it("hashes with the cost it records, down to r = 1", async () => {
    const cost = { log2N: 2, r: 1, p: 1 };
    const stored = hashPassword("tiny-cost", cost);
    const [, log2N, r, p, salt = "", hash = ""] = stored.split("$");
    expect([log2N, r, p]).toEqual(["2", "1", "1"]);
    const expected = scryptSync("tiny-cost", Buffer.from(salt, "base64"), 32, { N: 4, r: 1, p: 1 });
    expect(Buffer.from(hash, "base64").equals(expected)).toBe(true);
    expect(await verifyPassword("tiny-cost", stored)).toBe(true);
    const atTestCost = hashPassword("test-cost", testScryptCost).split("$");
    const testCostHash = scryptSync("test-cost", Buffer.from(atTestCost[4] ?? "", "base64"), 32, {
      N: 1024,
      r: 8,
      p: 1,
    });
    expect(Buffer.from(atTestCost[5] ?? "", "base64").equals(testCostHash)).toBe(true);
  });

  it("salts every entry, so equal passwords give different hashes", () => {
    expect(hashPassword("same-password", testScryptCost)).not.toBe(hashPassword("same-password", testScryptCost));
  });

  it("encodes its cost, so a default-cost hash verifies too", async () => {
    const stored = hashPassword("default-cost-password");
    expect(stored.startsWith("scrypt$14$8$1$")).toBe(true);
    expect(await verifyPassword("default-cost-password", stored)).toBe(true);
  });

  it("answers false, never throws, for malformed or tampered hashes", async () => {
    const stored = hashPassword("pw-123456789", testScryptCost);
    const parts = stored.split("$");
    for (const bad of [
      "",
      "plain-text",
      stored.replace("scrypt$", "bcrypt$"),
      [...parts.slice(0, 5), Buffer.alloc(16).toString("base64")].join("$"),
      [parts[0], "40", ...parts.slice(2)].join("$"),
      // N = 2 with r = 8: Node's scrypt throws synchronously (memory limit), which must still read as false.
      [parts[0], "1", ...parts.slice(2)].join("$"),
    ]) {
      expect(await verifyPassword("pw-123456789", bad)).toBe(false);
    }
  });

  it("refuses a stored hash with r or p of 0 even when it matches (scrypt itself would compute one)", async () => {
    const salt = Buffer.alloc(16, 7);
    for (const [r, p] of [
      [0, 1],
      [1, 0],
    ] as const) {
      const hash = scryptSync("pw-0", salt, 32, { N: 1024, r, p, maxmem: 256 * 1024 * r });
      const stored = `scrypt$10$${r}$${p}$${salt.toString("base64")}$${hash.toString("base64")}`;
      expect(await verifyPassword("pw-0", stored), `r ${r}, p ${p}`).toBe(false);
    }
  });

  it("never runs scrypt for a stored cost outside 2^1 to 2^20: a tampered entry cannot make it allocate or spin", async () => {
    const parts = hashPassword("pw-bounds", testScryptCost).split("$");
    for (const log2N of ["0", "21", "25"]) {
      scryptCalls.mockClear();
      expect(await verifyPassword("pw-bounds", [parts[0], log2N, ...parts.slice(2)].join("$")), log2N).toBe(false);
      expect(scryptCalls, `log2 N ${log2N}`).not.toHaveBeenCalled();
    }
  });

  it("computes a stored cost of 2^20, the highest allowed", async () => {
    // 2^20 with r = 8 is 1 GB and seconds of work: scrypt answers here without computing, after checking what it
    // was asked for. A key it answers that equals the stored hash must verify.
    const parts = hashPassword("pw-top", testScryptCost).split("$");
    const hash = Buffer.from(parts[5] ?? "", "base64");
    scryptCalls.mockClear();
    scryptCalls.mockImplementationOnce(((...args: unknown[]) => {
      const options = args[3] as { N: number; r: number; p: number };
      const callback = args[4] as (error: Error | null, key: Buffer) => void;
      callback(null, options.N === 2 ** 20 && options.r === 8 && options.p === 1 ? hash : Buffer.alloc(32));
    }) as typeof scrypt);
    expect(await verifyPassword("pw-top", ["scrypt", "20", "8", "1", parts[4], parts[5]].join("$"))).toBe(true);
    expect(scryptCalls).toHaveBeenCalledTimes(1);
  });

  it("remembers verified passwords per machine, bound to the stored hash", () => {
    const cache = new VerifiedPasswordCache(2);
    cache.remember("M1", "hash-1", "pw");
    expect(cache.has("M1", "hash-1", "pw")).toBe(true);
    expect(cache.has("M1", "hash-1", "other")).toBe(false);
    expect(cache.has("M1", "hash-2", "pw")).toBe(false);
    cache.remember("M2", "h", "pw");
    cache.remember("M3", "h", "pw");
    expect(cache.has("M1", "hash-1", "pw")).toBe(false); // evicted, capacity 2
    expect(cache.has("M2", "h", "pw")).toBe(true);
    expect(cache.has("M3", "h", "pw")).toBe(true);
  });

  it("keeps entries up to its capacity, evicting the oldest only beyond it", () => {
    const cache = new VerifiedPasswordCache(2);
    cache.remember("M1", "h", "pw");
    cache.remember("M2", "h", "pw");
    expect(cache.has("M1", "h", "pw")).toBe(true);
    expect(cache.has("M2", "h", "pw")).toBe(true);
    // Remembering a machine again refreshes it instead of counting twice.
    cache.remember("M1", "h", "pw");
    cache.remember("M3", "h", "pw");
    expect(cache.has("M2", "h", "pw")).toBe(false);
    expect(cache.has("M1", "h", "pw")).toBe(true);
  });

  it("separates the stored hash from the password, so moving characters between them does not match", () => {
    const cache = new VerifiedPasswordCache();
    cache.remember("M1", "hash-a", "bc");
    expect(cache.has("M1", "hash-a", "bc")).toBe(true);
    expect(cache.has("M1", "hash-ab", "c")).toBe(false);
  });

  it("builds hashed credentials from the configuration's machines", async () => {
    const credentials = credentialsFromConfig(
      {
        M1: {
          mqttPassword: "machine-one-password",
          commandKey: "ab".repeat(32),
          catalog: { currency: "EUR", products: { A1: { name: "Water", sku: "W", priceMinor: 150 } } },
        },
        M2: {
          certificateCn: "m2.example",
          commandKey: "cd".repeat(32),
          catalog: { currency: "EUR", products: { A1: { name: "Water", sku: "W", priceMinor: 150 } } },
        },
      },
      testScryptCost,
    );
    const m1 = credentials.lookup("M1");
    expect(m1?.passwordHash).not.toContain("machine-one-password");
    expect(await verifyPassword("machine-one-password", m1?.passwordHash ?? "")).toBe(true);
    expect(credentials.lookup("M2")).toStrictEqual({ certificateCn: "m2.example" });
    expect(credentials.lookup("M3")).toBeUndefined();
    credentials.delete("M1");
    expect(credentials.lookup("M1")).toBeUndefined();
    expect(credentials.lookup("M2")).toBeDefined();
  });
});
