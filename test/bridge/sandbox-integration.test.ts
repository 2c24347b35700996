import { afterEach, describe, expect, it } from "vitest";
import { type BridgeApp, createBridgeApp } from "../../backend-bridge/bridge-app.ts";
import { type SeqrSandbox, startSeqrSandbox } from "../../backend-bridge/sandbox/seqr-sandbox.ts";
import { SeqrSoapClient } from "../../backend-bridge/seqr/soap-client.ts";
import { systemClock } from "../../platform/clock.ts";
import { silentLogger } from "../../platform/logger.ts";
import { FakeFleet } from "./helpers/fake-fleet.ts";
import { testConfig } from "./helpers/harness.ts";
import { createTestStore, type TestStore } from "./helpers/test-stores.ts";

/**
 * The bridge against issue 3's SOAP client and SEQR sandbox over real HTTP: the UPS caller posts createPurchase, the
 * customer confirms in the app, the sandbox notifies, and the sandbox's own fault injection breaks the commit.
 */
describe("bridge + SOAP client + SEQR sandbox", () => {
  let sandbox: SeqrSandbox | undefined;
  let app: BridgeApp | undefined;
  let t: TestStore | undefined;
  afterEach(async () => {
    await app?.stop();
    await sandbox?.close();
    await t?.cleanup();
  });

  async function start() {
    sandbox = await startSeqrSandbox({});
    t = await createTestStore("sqlite");
    const fleet = new FakeFleet();
    fleet.setOnline("M1");
    // The notification URL must reach this bridge: listen first on a free port, then point publicBaseUrl at it.
    const probe = await import("node:net").then(({ createServer }) => {
      const server = createServer();
      return new Promise<number>((resolve) =>
        server.listen(0, "127.0.0.1", () => {
          const { port } = server.address() as { port: number };
          server.close(() => resolve(port));
        }),
      );
    });
    const config = testConfig({
      http: { port: probe, publicBaseUrl: `http://127.0.0.1:${probe}/seqr` },
      seqr: {
        endpointUrl: sandbox.soapUrl,
        terminalId: "public_test_shop_terminal",
        password: "12345678",
        requestTimeoutMs: 3_000,
      },
    });
    const seqr = new SeqrSoapClient({
      endpointUrl: config.seqr.endpointUrl,
      terminalId: config.seqr.terminalId,
      password: config.seqr.password,
      clientId: "seqr-vend tests",
      requestTimeoutMs: 3_000,
    });
    app = createBridgeApp({
      config,
      store: t.store,
      seqr,
      fleet,
      clock: systemClock,
      logger: silentLogger(),
      defaultMetrics: false,
      outbox: { pollIntervalMs: 50, backoff: { baseMs: 50, maxMs: 200 } },
    });
    await app.start();
    return { fleet, config, store: t.store, sandbox, url: `http://127.0.0.1:${probe}/seqr/createPurchase` };
  }

  async function waitFor<T>(probe: () => Promise<T | undefined> | T | undefined, ms = 8_000): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
      const value = await probe();
      if (value !== undefined) return value;
      if (Date.now() > end) throw new Error("timed out");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  it("runs a whole purchase and commits the vended amount, surviving a commit whose answer SEQR lost", async () => {
    const { fleet, store, sandbox: sb, url } = await start();
    const answer = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json;charset=UTF-8" },
      body: JSON.stringify({ token: "M1", amount: 20.0, currency: "EUR", msisdn: "46700000001" }),
    });
    const { invoiceReferenceId } = (await answer.json()) as { invoiceReferenceId: string };
    expect(invoiceReferenceId).toMatch(/^\d+$/);
    sb.ledger.attachCustomer(invoiceReferenceId, "46700000001");
    sb.app.confirm(invoiceReferenceId, { msisdn: "46700000001", pin: "1234" });
    const unlock = await waitFor(() => fleet.commands("unlock")[0]);
    const sessionId = unlock.body.sessionId as string;
    // The sandbox's 20-second rule was satisfied: the reservation stands.
    expect(sb.ledger.get(invoiceReferenceId)?.status).toBe("RESERVED");
    sb.faults.addCallFault({
      operation: "commitReservation",
      when: "after",
      effect: { kind: "http-status", status: 502 },
    });
    await fleet.emit("M1", "unlocked", { sessionId, commandId: unlock.commandId, budgetMinor: 2000, currency: "EUR" });
    await fleet.emit("M1", "vended", {
      sessionId,
      vendId: "v1",
      selection: "A2",
      sku: "COLA-033",
      name: "Cola",
      priceMinor: 200,
      currency: "EUR",
      evidence: "vend-success",
    });
    await fleet.emit("M1", "session-ended", {
      sessionId,
      reason: "single-vend-done",
      vendedCount: 1,
      vendedTotalMinor: 200,
      unknownCount: 0,
      currency: "EUR",
    });
    await waitFor(async () => ((await store.getPurchase(sessionId))?.state === "committed" ? true : undefined));
    const invoice = sb.ledger.get(invoiceReferenceId);
    expect(invoice?.status).toBe("PAID");
    expect(invoice?.paid).toEqual({ minor: 200, currency: "EUR" });
    expect(invoice?.rows.map((row) => [row.description, row.total.minor])).toEqual([["Cola", 200]]);
    const outbox = await store.getOutbox(sessionId, "commitReservation");
    expect(outbox?.status).toBe("done");
  });
});
