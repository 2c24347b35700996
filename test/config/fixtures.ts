import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";
import { deepMerge, minimalTestBridgeConfig } from "../helpers/bridge-test-config.ts";

export const agentSecret = "s3cret-mqtt-password-AGENT";
export const agentKey = "ab".repeat(32);
export const bridgeSeqrSecret = "s3cret-seqr-password-BRIDGE";

/** A minimal valid agent config (as a plain object, written to a temp file by writeConfig). */
export function agentConfigObject(): Record<string, unknown> {
  return {
    machine: { id: "M1", merchantId: "acme" },
    mqtt: { url: "mqtt://127.0.0.1:1883", password: agentSecret },
    commandKey: agentKey,
    catalog: { currency: "EUR", products: { A1: { name: "Water", sku: "W", priceMinor: 150 } } },
  };
}

/** A minimal valid bridge config: the required keys plus the explicit choices a test makes (no certificates). */
export function bridgeConfigObject(): Record<string, unknown> {
  return deepMerge(minimalTestBridgeConfig(), { seqr: { password: bridgeSeqrSecret } });
}

const made: string[] = [];

/** A fresh temp dir, removed after the test file that asked for it (a test run leaves nothing in /tmp). */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "seqr-vend-config-"));
  made.push(dir);
  return dir;
}

// Registered while the importing test file is collected, so it runs once that file's tests are done.
afterAll(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
});

export function writeConfig(content: unknown, name = "config.json"): string {
  const file = join(tempDir(), name);
  writeFileSync(file, typeof content === "string" ? content : JSON.stringify(content, null, 2));
  return file;
}
