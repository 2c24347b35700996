import { type ChildProcess, spawn } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { SeqrSoapClient } from "../../backend-bridge/seqr/soap-client.ts";

/** `vend-bridge sandbox` as a process: prints its URLs, serves, stops cleanly on SIGTERM. */

let child: ChildProcess | undefined;
afterEach(() => {
  if (child && child.exitCode === null) child.kill("SIGKILL");
});

function start(args: string[]): { child: ChildProcess; stdout: () => string; exited: Promise<number | null> } {
  let stdout = "";
  const process_ = spawn(process.execPath, ["--import", "tsx", "backend-bridge/main.ts", "sandbox", ...args], {
    cwd: new URL("../..", import.meta.url).pathname,
    env: { ...process.env, NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  process_.stdout!.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  process_.stderr!.resume();
  child = process_;
  const exited = new Promise<number | null>((resolve) => process_.once("exit", (code) => resolve(code)));
  return { child: process_, stdout: () => stdout, exited };
}

async function waitFor<T>(probe: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("timed out");
}

describe("vend-bridge sandbox", () => {
  it("runs the sandbox, prints its URLs as JSON, answers SOAP, stops with exit 0 on SIGTERM", async () => {
    const run = start(["--port", "0", "--json", "--ack-deadline-ms", "30000"]);
    const summary = await waitFor(() => {
      try {
        return JSON.parse(run.stdout()) as { soapUrl: string; appUrl: string; ackDeadlineMs: number };
      } catch {
        return undefined;
      }
    });
    expect(summary.ackDeadlineMs).toBe(30_000);
    expect((await fetch(summary.appUrl)).status).toBe(200);
    const client = new SeqrSoapClient({
      endpointUrl: summary.soapUrl,
      terminalId: "public_test_shop_terminal",
      password: "12345678",
      clientId: "test",
    });
    const { invoiceReference } = await client.sendInvoice({
      paymentMode: "IMMEDIATE_DEBIT",
      title: "t",
      clientInvoiceId: "c",
      cashierId: "k",
      rows: [],
      total: { minor: 100, currency: "EUR" },
    });
    expect((await client.getPaymentStatus(invoiceReference, 0)).status).toBe("ISSUED");
    client.close();
    run.child.kill("SIGTERM");
    expect(await run.exited).toBe(0);
  });

  it("refuses invalid options with exit 78 and a reason", async () => {
    const run = start(["--create-purchase-url", "https://reseller.example/purchase"]);
    let stderr = "";
    run.child.stderr!.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    expect(await run.exited).toBe(78);
    expect(stderr).toMatch(/must end with createPurchase/);
  });
});
