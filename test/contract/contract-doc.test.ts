import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { signCommand } from "../../protocol/signing.ts";
import { contractDocPath, generateContractDoc } from "../../scripts/generate-contract-doc.ts";

describe("docs/mqtt-contract.md", () => {
  it("is exactly what scripts/generate-contract-doc.ts generates from protocol/ (regenerate: npm run docs:contract)", () => {
    expect(readFileSync(contractDocPath, "utf8")).toBe(generateContractDoc());
  });

  it("is deterministic", () => {
    expect(generateContractDoc()).toBe(generateContractDoc());
  });

  it("documents every topic and a worked signature that protocol/signing.ts reproduces", () => {
    const doc = generateContractDoc();
    for (const name of ["unlock", "cancel", "payment-pending", "config", "ping", "ack"]) {
      expect(doc).toContain(`\`<root>/<machineId>/cmd/${name}\``);
    }
    for (const name of ["vended", "vend-failed", "vend-unknown", "session-ended", "command-rejected", "pong"]) {
      expect(doc).toContain(`\`<root>/<machineId>/event/${name}\``);
    }
    const published = /Published on `vending\/v1\/M0042\/cmd\/unlock`:\n\n```json\n(.+)\n```/.exec(doc)?.[1];
    const key = /Key \(hex\): `([0-9a-f]+)`/.exec(doc)?.[1];
    expect(published && key).toBeTruthy();
    const payload = JSON.parse(published ?? "{}") as Record<string, unknown>;
    expect(signCommand(key ?? "", "M0042", "unlock", payload)).toBe(payload.signature);
  });
});
