import { pbkdf2Sync, scrypt } from "node:crypto";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { EmbeddedBroker } from "../../backend-bridge/broker/embedded-broker.ts";
import { InMemoryMachineCredentials } from "../../backend-bridge/broker/machine-credentials.ts";
import { hashMachineSecret, needsRehash } from "../../backend-bridge/broker/machine-secret.ts";
import { hashPassword } from "../../backend-bridge/broker/password-hash.ts";
import { MachineRegistry } from "../../backend-bridge/registry/machine-registry.ts";
import { systemClock } from "../../platform/clock.ts";
import { createTestStore, type TestStore } from "../bridge/helpers/test-stores.ts";
import { startTestBroker, testScryptCost, tryConnect } from "./helpers.ts";

// The real scrypt, watched: how often a login makes the broker run it.
vi.mock("node:crypto", async (importOriginal) => {
  const actual = await importOriginal<typeof import("node:crypto")>();
  return { ...actual, scrypt: vi.fn(actual.scrypt), pbkdf2Sync: vi.fn(actual.pbkdf2Sync) };
});
const scryptCalls = vi.mocked(scrypt);
// PBKDF2 (the current form) runs on the event loop, about 0.1 ms a login: 10,000 bad logins held HTTP for a second.
const pbkdf2Calls = vi.mocked(pbkdf2Sync);

/**
 * What a machine login costs the embedded broker (issue 17): machine ids are public (they are in the QR code), so a
 * wrong password must cost next to nothing, must not keep the real machine out, and old scrypt entries must neither
 * be run without limit nor stay slow once their machine has logged in.
 */
describe("machine logins at the embedded broker: cost and throttling", () => {
  let broker: EmbeddedBroker | undefined;
  let store: TestStore | undefined;
  afterEach(async () => {
    await broker?.close();
    await store?.cleanup();
    broker = undefined;
    store = undefined;
    scryptCalls.mockClear();
    pbkdf2Calls.mockClear();
  });

  const url = () => `mqtt://127.0.0.1:${broker?.tcpPort}`;
  const login = (machineId: string, password: string) =>
    tryConnect(url(), { clientId: machineId, username: machineId, password });

  it("a flood of wrong passwords for a machine: all refused without scrypt, and the real machine still gets in", async () => {
    const credentials = new InMemoryMachineCredentials();
    credentials.set("M1", { passwordHash: hashMachineSecret("real-secret-of-m1") });
    broker = await startTestBroker({ credentials });
    const flood = await Promise.all(Array.from({ length: 60 }, (_, i) => login("M1", `guess-${i}`)));
    expect(flood.every((result) => !result.ok && result.code === 4)).toBe(true);
    // Same address as the flood (everything here is loopback), past every failure limit: the right secret still works.
    const real = await login("M1", "real-secret-of-m1");
    expect(real.ok).toBe(true);
    if (real.ok) await real.client.endAsync();
    expect(scryptCalls).not.toHaveBeenCalled();
  });

  it("once the machine has logged in, a wrong password for it costs no PBKDF2; a rotated one is checked and let in", async () => {
    const credentials = new InMemoryMachineCredentials();
    credentials.set("M1", { passwordHash: hashMachineSecret("real-secret-of-m1") });
    broker = await startTestBroker({ credentials });
    const first = await login("M1", "real-secret-of-m1");
    expect(first.ok).toBe(true);
    if (first.ok) await first.client.endAsync();
    pbkdf2Calls.mockClear();
    const flood = await Promise.all(Array.from({ length: 50 }, (_, i) => login("M1", `guess-${i}`)));
    expect(flood.every((result) => !result.ok && result.code === 4)).toBe(true);
    expect(pbkdf2Calls).not.toHaveBeenCalled();
    // The password rotated in the store: the known one no longer speaks for the new hash, so the new one is checked.
    credentials.set("M1", { passwordHash: hashMachineSecret("rotated-secret-of-m1") });
    pbkdf2Calls.mockClear();
    const rotated = await login("M1", "rotated-secret-of-m1");
    expect(rotated.ok).toBe(true);
    if (rotated.ok) await rotated.client.endAsync();
    expect(pbkdf2Calls).toHaveBeenCalledTimes(1);
    expect((await login("M1", "real-secret-of-m1")).ok).toBe(false);
  });

  it("failures are throttled: a flood against an old scrypt entry runs scrypt only up to the failure limit", async () => {
    const credentials = new InMemoryMachineCredentials();
    credentials.set("M2", { passwordHash: hashPassword("real-secret-of-m2", testScryptCost) });
    broker = await startTestBroker({ credentials });
    for (let i = 0; i < 25; i++) {
      const result = await login("M2", `guess-${i}`);
      expect(result.ok).toBe(false);
    }
    // 10 failures per machine and address in a minute (login-throttle.ts), then refused unchecked.
    expect(scryptCalls).toHaveBeenCalledTimes(10);
  });

  it("an scrypt entry migrates to the fast form on its first good login, and the next login runs no scrypt", async () => {
    store = await createTestStore("sqlite");
    const registry = new MachineRegistry({ machines: {}, store: store.store, clock: systemClock, cacheMs: 0 });
    await registry.add("M3", {
      mqttPassword: "placeholder-secret",
      commandKey: "ab".repeat(32),
      catalog: { currency: "EUR", products: { A1: { name: "Water", sku: "W", priceMinor: 150 } } },
    });
    // An entry as an older bridge wrote it: scrypt.
    const current = await registry.stored("M3");
    const legacy = hashPassword("old-secret-of-m3", testScryptCost);
    await store.store.putMachine("M3", JSON.stringify({ ...current, mqttPasswordHash: legacy }), Date.now());
    broker = await startTestBroker({ credentials: registry });
    const first = await login("M3", "old-secret-of-m3");
    expect(first.ok).toBe(true);
    if (first.ok) await first.client.endAsync();
    expect(scryptCalls).toHaveBeenCalledTimes(1);
    let migrated = "";
    for (let attempt = 0; attempt < 100 && (migrated === "" || needsRehash(migrated)); attempt++) {
      migrated = (await registry.stored("M3"))?.mqttPasswordHash ?? "";
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(migrated).toMatch(/^\$7\$101\$/);
    scryptCalls.mockClear();
    // A new broker (no cache of good logins): the stored entry alone decides, without scrypt.
    await broker.close();
    broker = await startTestBroker({ credentials: registry });
    const second = await login("M3", "old-secret-of-m3");
    expect(second.ok).toBe(true);
    if (second.ok) await second.client.endAsync();
    expect((await login("M3", "wrong")).ok).toBe(false);
    expect(scryptCalls).not.toHaveBeenCalled();
  });

  it("an entry changed meanwhile is not overwritten by the migration", async () => {
    store = await createTestStore("sqlite");
    const registry = new MachineRegistry({ machines: {}, store: store.store, clock: systemClock, cacheMs: 0 });
    await registry.add("M4", {
      mqttPassword: "new-secret-of-m4",
      commandKey: "ab".repeat(32),
      catalog: { currency: "EUR", products: { A1: { name: "Water", sku: "W", priceMinor: 150 } } },
    });
    const now = (await registry.stored("M4"))?.mqttPasswordHash ?? "";
    const stale = hashPassword("old-secret", testScryptCost);
    expect(await registry.upgrade("M4", stale, hashMachineSecret("old-secret"))).toBe(false);
    expect((await registry.stored("M4"))?.mqttPasswordHash).toBe(now);
    // Never a downgrade, never a config machine.
    expect(await registry.upgrade("M4", now, hashPassword("x", testScryptCost))).toBe(false);
  });
});
