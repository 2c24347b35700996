import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type AgentConfig, agentConfigSchema } from "../../config/schema/agent.ts";

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "seqr-vend-cli-"));
}

export function agentConfigObject(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    machine: { id: "C0001", merchantId: "acme" },
    commandKey: "cd".repeat(32),
    hardware: { driver: "simulator", simulate: "spiral-board", vendDurationMs: 50 },
    catalog: { currency: "EUR", products: { "11": { name: "Coffee", sku: "COFFEE", priceMinor: 250 } } },
    dataDir: join(tempDir(), "data"),
    ...overrides,
  };
}

export function writeAgentConfig(overrides: Record<string, unknown> = {}): string {
  const file = join(tempDir(), "agent.json");
  writeFileSync(file, JSON.stringify(agentConfigObject(overrides)));
  return file;
}

export function agentConfig(overrides: Record<string, unknown> = {}): AgentConfig {
  return agentConfigSchema.parse(agentConfigObject(overrides));
}
