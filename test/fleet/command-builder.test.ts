import { describe, expect, it } from "vitest";
import { buildCommand, CommandBuildError } from "../../backend-bridge/fleet/command-builder.ts";
import { configCommand, pingCommand, unlockCommand } from "../../protocol/messages.ts";
import { verifyCommandSignature } from "../../protocol/signing.ts";

const key = "11".repeat(32);

describe("buildCommand", () => {
  it("fills the envelope and signs unlock over every field", () => {
    const command = buildCommand({
      machineId: "M1",
      name: "unlock",
      body: { sessionId: "S1", budgetMinor: 500, currency: "EUR", mode: "multi-vend" },
      now: 1_000,
      ttlMs: 30_000,
      commandKey: key,
    });
    expect(unlockCommand.parse(command)).toEqual(command);
    expect(command).toMatchObject({ issuedAt: 1_000, expiresAt: 31_000 });
    expect(command.commandId).toMatch(/^[0-9a-f-]{36}$/);
    expect(verifyCommandSignature(key, "M1", "unlock", command)).toBe(true);
    expect(verifyCommandSignature(key, "M1", "unlock", { ...command, mode: "single-vend" })).toBe(false);
  });

  it("signs config too and keeps a caller's commandId", () => {
    const config = buildCommand({
      machineId: "M1",
      name: "config",
      body: { catalog: { currency: "SEK", products: { A1: { name: "Tea", sku: "T", priceMinor: 1_500 } } } },
      now: 5,
      ttlMs: 10,
      commandId: "my-id",
      commandKey: key,
    });
    expect(configCommand.parse(config).commandId).toBe("my-id");
    expect(verifyCommandSignature(key, "M1", "config", config)).toBe(true);
  });

  it("signs every command (ack, cancel, ping and payment-pending too) and refuses to build one without a key", () => {
    const bodies = {
      ack: { eventIds: ["e-1"] },
      cancel: { sessionId: "S1", reason: "operator" },
      ping: {},
      "payment-pending": { sessionId: "S1", amountMinor: 500, currency: "EUR" },
    } as const;
    for (const [name, body] of Object.entries(bodies) as [
      keyof typeof bodies,
      (typeof bodies)[keyof typeof bodies],
    ][]) {
      const command = buildCommand({ machineId: "M1", name, body, now: 5, ttlMs: 10, commandKey: key } as never);
      expect(verifyCommandSignature(key, "M1", name, command as Record<string, unknown>)).toBe(true);
      expect(() => buildCommand({ machineId: "M1", name, body, now: 5, ttlMs: 10 } as never)).toThrow(
        CommandBuildError,
      );
    }
    const ping = buildCommand({ machineId: "M1", name: "ping", body: {}, now: 5, ttlMs: 10, commandKey: key });
    expect(pingCommand.parse(ping)).toEqual(ping);
  });

  it("refuses a signed command without key, a bad ttl and a body outside the contract", () => {
    const body = { sessionId: "S1", budgetMinor: 500, currency: "EUR" };
    expect(() => buildCommand({ machineId: "M1", name: "unlock", body, now: 1, ttlMs: 10 })).toThrow(CommandBuildError);
    expect(() => buildCommand({ machineId: "M1", name: "unlock", body, now: 1, ttlMs: 0, commandKey: key })).toThrow(
      /ttlMs/,
    );
    expect(() =>
      buildCommand({
        machineId: "M1",
        name: "unlock",
        body: { ...body, currency: "XXX" },
        now: 1,
        ttlMs: 10,
        commandKey: key,
      }),
    ).toThrow(/currency/);
    expect(() =>
      buildCommand({ machineId: "M1", name: "ack", body: { eventIds: [] }, now: 1, ttlMs: 10, commandKey: key }),
    ).toThrow(/eventIds/);
  });
});
