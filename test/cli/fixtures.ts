import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Aedes } from "aedes";
import { afterAll } from "vitest";
import { type AgentConfig, agentConfigSchema } from "../../config/schema/agent.ts";

const made: string[] = [];

/** A fresh temp dir, removed after the test file that asked for it (a test run leaves nothing in /tmp). */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "seqr-vend-cli-"));
  made.push(dir);
  return dir;
}

// Registered while the importing test file is collected, so it runs once that file's tests are done.
afterAll(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
});

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

/**
 * A broker without logins (as a Mosquitto without ACLs): it takes any client id, and drops the older of two alike.
 * `clientIds` lists every client id that connected; the broker is closed by the test's cleanups.
 */
export async function openBroker(
  cleanups: Array<() => Promise<void> | void>,
): Promise<{ url: string; clientIds: string[] }> {
  const broker = await Aedes.createBroker();
  const clientIds: string[] = [];
  broker.on("client", (client) => clientIds.push(client.id));
  const server = createServer((socket) => broker.handle(socket));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(async () => {
    server.close();
    await new Promise<void>((resolve) => broker.close(() => resolve()));
  });
  return { url: `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`, clientIds };
}
