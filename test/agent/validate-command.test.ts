import { describe, expect, it } from "vitest";
import { checkCommand } from "../../agent/commands/validate-command.ts";
import { signCommand } from "../../protocol/signing.ts";

const key = "11".repeat(32);
const machineId = "M-1";
const now = 1_800_000_000_000;
const context = (seen: string[] = []) => ({
  machineId,
  commandKeyHex: key,
  now,
  maxFutureSkewMs: 300_000,
  wasSeen: (commandId: string) => seen.includes(commandId),
});

function unlock(overrides: Record<string, unknown> = {}, signWith = key, forMachine = machineId) {
  const body: Record<string, unknown> = {
    commandId: "c-1",
    issuedAt: now - 1_000,
    expiresAt: now + 30_000,
    sessionId: "s-1",
    budgetMinor: 500,
    currency: "EUR",
    ...overrides,
  };
  body.signature = signCommand(signWith, forMachine, "unlock", body);
  return JSON.stringify(body);
}

describe("command validation", () => {
  it("accepts a signed, fresh, new unlock", () => {
    const result = checkCommand("unlock", unlock(), context());
    expect(result.ok).toBe(true);
  });

  it("refuses an unsigned unlock, a wrong key, another machine's signature and a tampered budget", () => {
    const unsigned = JSON.parse(unlock()) as Record<string, unknown>;
    delete unsigned.signature;
    expect(checkCommand("unlock", JSON.stringify(unsigned), context())).toMatchObject({ ok: false, reason: "invalid" });
    expect(checkCommand("unlock", unlock({}, "22".repeat(32)), context())).toMatchObject({
      ok: false,
      reason: "bad-signature",
      commandId: "c-1",
      sessionId: "s-1",
    });
    expect(checkCommand("unlock", unlock({}, key, "M-2"), context())).toMatchObject({ reason: "bad-signature" });
    const tampered = JSON.parse(unlock()) as Record<string, unknown>;
    tampered.budgetMinor = 50_000;
    expect(checkCommand("unlock", JSON.stringify(tampered), context())).toMatchObject({ reason: "bad-signature" });
    const zeros = JSON.parse(unlock()) as Record<string, unknown>;
    zeros.signature = "0".repeat(64);
    expect(checkCommand("unlock", JSON.stringify(zeros), context())).toMatchObject({ reason: "bad-signature" });
  });

  it("refuses an expired unlock and one issued far in the future", () => {
    expect(checkCommand("unlock", unlock({ expiresAt: now - 1 }), context())).toMatchObject({ reason: "expired" });
    expect(
      checkCommand("unlock", unlock({ issuedAt: now + 600_000, expiresAt: now + 630_000 }), context()),
    ).toMatchObject({
      reason: "invalid",
      detail: expect.stringMatching(/future/),
    });
  });

  it("refuses a replayed commandId", () => {
    expect(checkCommand("unlock", unlock(), context(["c-1"]))).toMatchObject({ reason: "replayed", commandId: "c-1" });
  });

  it("reports a late duplicate of a command already acted on as replayed, not expired", () => {
    expect(checkCommand("unlock", unlock({ expiresAt: now - 1 }), context(["c-1"]))).toMatchObject({
      ok: false,
      reason: "replayed",
      commandId: "c-1",
      sessionId: "s-1",
    });
    // A forged duplicate still fails on its signature first.
    expect(checkCommand("unlock", unlock({ expiresAt: now - 1 }, "22".repeat(32)), context(["c-1"]))).toMatchObject({
      reason: "bad-signature",
    });
  });

  it("refuses unknown commands, non-JSON, oversized and schema-breaking payloads without throwing", () => {
    expect(checkCommand("launch-missiles", "{}", context())).toMatchObject({ reason: "invalid" });
    expect(checkCommand("ping", "not json", context())).toMatchObject({
      reason: "invalid",
      detail: "payload is not JSON",
    });
    expect(checkCommand("ping", "x".repeat(20_000), context())).toMatchObject({ reason: "invalid" });
    expect(
      checkCommand("ping", JSON.stringify({ commandId: "p", issuedAt: -1, expiresAt: 1 }), context()),
    ).toMatchObject({
      reason: "invalid",
      commandId: "p",
    });
    expect(checkCommand("unlock", unlock({ budgetMinor: 1.5 }), context())).toMatchObject({ reason: "invalid" });
    expect(
      checkCommand("ping", JSON.stringify(signed("ping", { issuedAt: now, expiresAt: now + 1 })), context()).ok,
    ).toBe(true);
  });
});

/** Every command of the contract, as the bridge signs it (issue 15 defect 6: all of them are signed). */
function signed(name: string, fields: Record<string, unknown>, signWith = key): Record<string, unknown> {
  const body: Record<string, unknown> = {
    commandId: `c-${name}`,
    issuedAt: now - 1_000,
    expiresAt: now + 30_000,
    ...fields,
  };
  body.signature = signCommand(signWith, machineId, name, body);
  return body;
}

const everyCommand: [string, Record<string, unknown>][] = [
  ["unlock", { sessionId: "s-1", budgetMinor: 500, currency: "EUR" }],
  ["payment-pending", { sessionId: "s-1", amountMinor: 500, currency: "EUR" }],
  ["cancel", { sessionId: "s-1", reason: "operator" }],
  ["ack", { eventIds: ["e-1", "e-2"] }],
  ["ping", {}],
  ["config", { catalog: { currency: "EUR", products: { A1: { name: "Tea", sku: "T", priceMinor: 150 } } } }],
];

describe("every command is signed", () => {
  it.each(everyCommand)("accepts a signed %s", (name, fields) => {
    expect(checkCommand(name, JSON.stringify(signed(name, fields)), context())).toMatchObject({ ok: true });
  });

  it.each(everyCommand)("refuses an unsigned %s", (name, fields) => {
    const unsigned = signed(name, fields);
    delete unsigned.signature;
    expect(checkCommand(name, JSON.stringify(unsigned), context())).toMatchObject({ ok: false });
  });

  it.each(everyCommand)("refuses a %s signed with another key", (name, fields) => {
    const forged = signed(name, fields, "22".repeat(32));
    expect(checkCommand(name, JSON.stringify(forged), context())).toMatchObject({
      ok: false,
      reason: "bad-signature",
    });
  });

  it.each(everyCommand)("refuses a %s whose signature differs only in its last byte", (name, fields) => {
    // A compare of a prefix only (the first bytes) would accept this: the whole 32 bytes must match.
    const body = signed(name, fields);
    const signature = String(body.signature);
    const lastByte = Number.parseInt(signature.slice(-2), 16);
    body.signature = `${signature.slice(0, -2)}${((lastByte + 1) % 256).toString(16).padStart(2, "0")}`;
    expect(checkCommand(name, JSON.stringify(body), context())).toMatchObject({ ok: false, reason: "bad-signature" });
  });

  it("refuses a config with new prices under the old signature", () => {
    const body = signed("config", everyCommand[5]?.[1] ?? {});
    (body.catalog as { products: { A1: { priceMinor: number } } }).products.A1.priceMinor = 1;
    expect(checkCommand("config", JSON.stringify(body), context())).toMatchObject({ reason: "bad-signature" });
  });
});

describe("command validation: boundaries and what a rejection says", () => {
  it("expires at exactly expiresAt and says how long ago", () => {
    expect(checkCommand("unlock", unlock({ expiresAt: now }), context())).toMatchObject({
      ok: false,
      reason: "expired",
      detail: "expired 0 ms ago",
      commandId: "c-1",
      sessionId: "s-1",
    });
    expect(checkCommand("unlock", unlock({ expiresAt: now - 1_500 }), context())).toMatchObject({
      detail: "expired 1500 ms ago",
    });
    expect(checkCommand("unlock", unlock({ expiresAt: now + 1 }), context()).ok).toBe(true);
  });

  it("accepts a command issued exactly the allowed skew ahead, refuses one a millisecond more and remembers it", () => {
    const atSkew = unlock({ issuedAt: now + 300_000, expiresAt: now + 330_000 });
    expect(checkCommand("unlock", atSkew, context()).ok).toBe(true);
    expect(checkCommand("unlock", unlock({ issuedAt: now + 300_001, expiresAt: now + 330_000 }), context())).toEqual({
      ok: false,
      reason: "invalid",
      detail: "issued 300001 ms in the future (clock skew above 300000 ms)",
      commandId: "c-1",
      sessionId: "s-1",
      remember: { commandId: "c-1", expiresAt: now + 330_000 },
    });
  });

  it("refuses a command that expires before it was issued, and accepts one that expires as it is issued", () => {
    expect(checkCommand("unlock", unlock({ issuedAt: now + 20_000, expiresAt: now + 10_000 }), context())).toEqual({
      ok: false,
      reason: "invalid",
      detail: "expiresAt is before issuedAt",
      commandId: "c-1",
      sessionId: "s-1",
      remember: { commandId: "c-1", expiresAt: now + 10_000 },
    });
    expect(checkCommand("unlock", unlock({ issuedAt: now + 10_000, expiresAt: now + 10_000 }), context()).ok).toBe(
      true,
    );
  });

  it("names the command, the signature failure and the replayed id", () => {
    expect(checkCommand("launch-missiles", "{}", context())).toMatchObject({
      detail: "unknown command 'launch-missiles'",
    });
    expect(checkCommand("x".repeat(100), "{}", context())).toMatchObject({
      detail: `unknown command '${"x".repeat(40)}'`,
    });
    expect(checkCommand("unlock", unlock({}, "22".repeat(32)), context())).toMatchObject({
      detail: "the unlock signature does not verify",
    });
    expect(checkCommand("unlock", unlock(), context(["c-1"]))).toMatchObject({
      detail: "commandId c-1 was already received",
      sessionId: "s-1",
    });
  });

  it("keeps a schema error's detail to 300 characters", () => {
    const products = Object.fromEntries(
      Array.from({ length: 30 }, (_, index) => [`A${index}`, { name: "", sku: "", priceMinor: -1 }]),
    );
    const body = { commandId: "c-9", issuedAt: now, expiresAt: now + 1, catalog: { currency: "EUR", products } };
    const result = checkCommand("config", JSON.stringify(body), context());
    expect(result).toMatchObject({ ok: false, reason: "invalid", commandId: "c-9" });
    expect(result.ok === false && result.detail).toHaveLength(300);
    expect(result.ok === false && result.detail.startsWith("signature: ")).toBe(true);
  });

  it("reports the ids of a payload that fails the schema only when they look like ids", () => {
    const ids = (commandId: unknown, sessionId: unknown) => {
      const result = checkCommand("unlock", JSON.stringify({ commandId, sessionId }), context());
      return result.ok ? undefined : { commandId: result.commandId, sessionId: result.sessionId };
    };
    expect(ids("c:1.a_b-2", "s")).toEqual({ commandId: "c:1.a_b-2", sessionId: "s" });
    expect(ids("x".repeat(64), "s".repeat(65))).toEqual({ commandId: "x".repeat(64), sessionId: null });
    expect(ids("!c-1", "s-1!")).toEqual({ commandId: null, sessionId: null });
    expect(ids("c 1", 7)).toEqual({ commandId: null, sessionId: null });
    expect(checkCommand("unlock", "null", context())).toMatchObject({ commandId: null, sessionId: null });
    expect(checkCommand("unlock", "{", context())).toMatchObject({ commandId: null, sessionId: null });
  });
});
