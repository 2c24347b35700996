import { describe, expect, it } from "vitest";
import { decodePayload, unlockCommand } from "../../protocol/messages.ts";
import { canonicalJson, signCommand, verifyCommandSignature } from "../../protocol/signing.ts";
import { machineTopics, parseTopic } from "../../protocol/topics.ts";

const key = "11".repeat(32);
const unlock = {
  commandId: "c-1",
  issuedAt: 1_000,
  expiresAt: 31_000,
  sessionId: "s-1",
  budgetMinor: 2000,
  currency: "EUR",
};

describe("command signatures", () => {
  it("canonical JSON does not depend on key order", () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: null } })).toBe(
      '{"a":{"c":null,"d":[1,{"x":1,"y":2}]},"b":1}',
    );
  });

  it("canonical JSON sorts every key order the same way and leaves undefined fields out", () => {
    const sorted = '{"a":1,"b":2,"c":3,"d":4}';
    for (const order of [
      ["a", "b", "c", "d"],
      ["d", "c", "b", "a"],
      ["b", "d", "a", "c"],
      ["c", "a", "d", "b"],
    ]) {
      const value = Object.fromEntries(order.map((key) => [key, key.charCodeAt(0) - 96]));
      expect(canonicalJson(value), order.join("")).toBe(sorted);
    }
    expect(canonicalJson({ b: 1, gone: undefined, a: undefined })).toBe('{"b":1}');
    // So a signature made before an optional field was dropped still verifies.
    const signature = signCommand(key, "M1", "unlock", unlock);
    expect(verifyCommandSignature(key, "M1", "unlock", { ...unlock, note: undefined, signature })).toBe(true);
  });

  it("verifies a signed unlock and refuses any change to it", () => {
    const signature = signCommand(key, "M1", "unlock", unlock);
    expect(verifyCommandSignature(key, "M1", "unlock", { ...unlock, signature })).toBe(true);
    expect(verifyCommandSignature(key, "M1", "unlock", { ...unlock, budgetMinor: 2001, signature })).toBe(false);
    expect(verifyCommandSignature(key, "M2", "unlock", { ...unlock, signature })).toBe(false);
    expect(verifyCommandSignature(key, "M1", "config", { ...unlock, signature })).toBe(false);
    expect(verifyCommandSignature("22".repeat(32), "M1", "unlock", { ...unlock, signature })).toBe(false);
    expect(verifyCommandSignature(key, "M1", "unlock", { ...unlock })).toBe(false);
    expect(verifyCommandSignature(key, "M1", "unlock", { ...unlock, signature: "zz" })).toBe(false);
  });

  it("refuses a signature that differs from the right one only in its last bytes (the whole HMAC is compared)", () => {
    const signature = signCommand(key, "M1", "unlock", unlock);
    for (const tail of ["00", "ff", "0000", "abcd"]) {
      const altered = `${signature.slice(0, -tail.length)}${tail}`;
      if (altered === signature) continue;
      expect(verifyCommandSignature(key, "M1", "unlock", { ...unlock, signature: altered })).toBe(false);
    }
    // Only the first byte right, or all but the last: never enough.
    const lastFlipped = `${signature.slice(0, 62)}${(Number.parseInt(signature.slice(62), 16) ^ 1).toString(16).padStart(2, "0")}`;
    expect(verifyCommandSignature(key, "M1", "unlock", { ...unlock, signature: lastFlipped })).toBe(false);
    expect(verifyCommandSignature(key, "M1", "unlock", { ...unlock, signature: signature.toUpperCase() })).toBe(false);
    // Hex decoding stops at an odd last digit: the right 64 digits plus one more must not pass.
    expect(verifyCommandSignature(key, "M1", "unlock", { ...unlock, signature: `${signature}0` })).toBe(false);
  });

  it("validates payloads without throwing", () => {
    const signature = signCommand(key, "M1", "unlock", unlock);
    expect(decodePayload(unlockCommand, JSON.stringify({ ...unlock, signature })).ok).toBe(true);
    expect(decodePayload(unlockCommand, "{not json").ok).toBe(false);
    expect(decodePayload(unlockCommand, JSON.stringify({ ...unlock, budgetMinor: 1.5, signature })).ok).toBe(false);
    expect(decodePayload(unlockCommand, JSON.stringify({ ...unlock, signature, extra: 1 })).ok).toBe(false);
    expect(decodePayload(unlockCommand, "x".repeat(20_000)).ok).toBe(false);
  });
});

describe("topics", () => {
  it("builds and parses the contract's topics", () => {
    const topics = machineTopics("vending/v1", "M1");
    expect(topics.command("unlock")).toBe("vending/v1/M1/cmd/unlock");
    expect(parseTopic("vending/v1", topics.event("vended"))).toEqual({
      machineId: "M1",
      kind: "event",
      name: "vended",
    });
    expect(parseTopic("vending/v1", topics.availability)).toEqual({ machineId: "M1", kind: "availability" });
    expect(parseTopic("vending/v1", "vending/v1/M1/event/a/b")).toBeUndefined();
    expect(parseTopic("vending/v1", "other/M1/state")).toBeUndefined();
  });
});
