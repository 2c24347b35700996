import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import YAML from "yaml";
import type { SeqrSandbox } from "../../backend-bridge/sandbox/seqr-sandbox.ts";
import { startSeqrSandbox } from "../../backend-bridge/sandbox/seqr-sandbox.ts";
import type { UpsOutcome } from "../../backend-bridge/sandbox/ups-caller.ts";
import { openStore } from "../../backend-bridge/store/open-store.ts";
import type { Purchase, Store } from "../../backend-bridge/store/store.ts";
import { BridgeProcess, freePort } from "./helpers/bridge-process.ts";
import { MqttMachine } from "./helpers/mqtt-machine.ts";

/**
 * Issue 4, "the bridge killed and restarted mid-session recovers from the store and finishes the purchase correctly",
 * with nothing faked on the bridge's side: the real `vend-bridge run` in a child process (SOAP client, embedded aedes
 * broker, MqttFleetLink, SQLite store in WAL mode), the SEQR sandbox over HTTP, and machines played over raw MQTT.
 * The bridge is SIGKILLed at a different point of each purchase and started again on the same store; every purchase
 * must end with SEQR holding exactly the vended amount (or a cancelled invoice when nothing was vended), committed
 * once, and the machine free for the next customer.
 */

const customer = { msisdn: "46700000001", pin: "1234" };
const terminal = { id: "public_test_shop_terminal", password: "12345678" };
const catalog = {
  currency: "EUR",
  products: {
    A1: { name: "Still water", sku: "WATER-05", priceMinor: 150 },
    A2: { name: "Cola", sku: "COLA-033", priceMinor: 200 },
  },
};
const machineIds = ["K1", "K2", "K3", "K4"] as const;
type MachineId = (typeof machineIds)[number];
const secrets = Object.fromEntries(
  machineIds.map((id) => [
    id,
    { mqttPassword: randomBytes(12).toString("hex"), commandKey: randomBytes(32).toString("hex") },
  ]),
) as Record<MachineId, { mqttPassword: string; commandKey: string }>;

// Each case restarts a child Node with tsx: on a loaded 2-core machine (another full test run beside this one) that
// alone can take tens of seconds. The case's timeout is above the sum of its own deadlines (a start-up is allowed 60 s,
// each wait for a state 30 s), so that a slow machine fails a deadline with its evidence, never the runner's timeout
// that leaves a half-restarted bridge to the next case.
describe("the real bridge, SIGKILLed mid-purchase and restarted on the same store", { timeout: 240_000 }, () => {
  let dir: string;
  let configFile: string;
  let httpPort: number;
  let sandbox: SeqrSandbox;
  let bridge: BridgeProcess | undefined;
  let store: Store | undefined;
  const machines = new Map<MachineId, MqttMachine>();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "vend-bridge-sigkill-"));
    httpPort = await freePort();
    const mqttPort = await freePort();
    sandbox = await startSeqrSandbox({
      port: 0,
      ups: { createPurchaseUrl: `http://127.0.0.1:${httpPort}/seqr/createPurchase` },
    });
    const storeUrl = `sqlite:${join(dir, "bridge.db")}`;
    configFile = join(dir, "bridge.yaml");
    writeFileSync(
      configFile,
      YAML.stringify({
        http: {
          host: "127.0.0.1",
          port: httpPort,
          plainHttp: true,
          publicBaseUrl: `http://127.0.0.1:${httpPort}/seqr`,
        },
        seqr: {
          endpointUrl: sandbox.soapUrl,
          terminalId: terminal.id,
          password: terminal.password,
          clientId: "seqr-vend sigkill test",
          // Short, so that the outbox lease of a killed bridge (3 x timeout + 5 s) ends within the test.
          requestTimeoutMs: 1_500,
          commitReservationTimeoutSeconds: 600,
        },
        broker: {
          mode: "embedded",
          tcp: { enabled: true, host: "127.0.0.1", port: mqttPort },
          tls: { enabled: false },
        },
        callerAuth: { mode: "none" },
        store: { url: storeUrl },
        machines: Object.fromEntries(machineIds.map((id) => [id, { ...secrets[id], catalog }])),
        timeouts: { statusPollIntervalMs: 500, unlockAckMs: 30_000 },
        log: { level: "warn" },
      }),
    );
    bridge = await BridgeProcess.start(configFile, httpPort);
    ({ store } = await openStore(storeUrl));
    for (const id of machineIds) {
      machines.set(
        id,
        new MqttMachine({
          url: `mqtt://127.0.0.1:${mqttPort}`,
          machineId: id,
          password: secrets[id].mqttPassword,
          commandKey: secrets[id].commandKey,
        }),
      );
    }
    await waitUntil("every machine online at the bridge", () => health(4)).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}: ${describeMachines()}\n${bridge?.output()}`);
    });
  }, 120_000);

  function describeMachines(): string {
    return [...machines.values()]
      .map((m) => `${m.machineId}: ${m.connects} connects, ${m.lastError ?? "no error"}`)
      .join("; ");
  }

  afterAll(async () => {
    for (const machine of machines.values()) await machine.close();
    await bridge?.stop();
    await store?.close();
    await sandbox?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function health(online: number): Promise<true | undefined> {
    try {
      if (!bridge) return undefined;
      const response = await fetch(bridge.healthUrl);
      const body = (await response.json()) as { machinesOnline: number };
      return response.status === 200 && body.machinesOnline >= online ? true : undefined;
    } catch {
      return undefined;
    }
  }

  /** The customer scans machine `id`'s QR code in the app; SEQR's UPS posts createPurchase to the bridge. */
  async function scan(id: MachineId, amountMinor = 2_000): Promise<UpsOutcome> {
    return sandbox.ups.scan({
      qr: `HTTP://SEQR.SE/000/ups?w=public_test_shop&t=${id}`,
      msisdn: customer.msisdn,
      amount: { minor: amountMinor, currency: "EUR" },
    });
  }

  async function startPurchase(id: MachineId): Promise<string> {
    const outcome = await scan(id);
    if (outcome.kind !== "invoice") throw new Error(`createPurchase for ${id}: ${JSON.stringify(outcome)}`);
    expect(outcome.invoiceKnown).toBe(true);
    return outcome.invoiceReferenceId;
  }

  async function purchaseOf(reference: string): Promise<Purchase> {
    const found = (await store!.listPurchases({ limit: 1_000 })).find((p) => p.invoiceReference === reference);
    if (!found) throw new Error(`no purchase for invoice ${reference}`);
    return found;
  }

  async function waitForState(reference: string, state: Purchase["state"], timeoutMs = 30_000): Promise<Purchase> {
    let last: Purchase | undefined;
    await waitUntil(
      `invoice ${reference} in state ${state}`,
      async () => {
        last = await purchaseOf(reference).catch(() => undefined);
        return last?.state === state ? true : undefined;
      },
      timeoutMs,
    ).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}; last state ${last?.state}\n${bridge?.output()}`);
    });
    return last!;
  }

  function commitCalls(reference: string) {
    return sandbox.soap
      .calls()
      .filter((call) => call.operation === "commitReservation" && call.invoiceReference === reference);
  }

  /** The unlock the machine receives for `reference`'s session: signed with its key, for the reserved amount. */
  async function expectUnlock(machine: MqttMachine, sessionId: string, after = 0) {
    const unlock = await machine.waitForCommand("unlock", (command) => command.payload.sessionId === sessionId, after);
    expect(unlock.signatureValid).toBe(true);
    expect(unlock.payload).toMatchObject({ budgetMinor: 2_000, currency: "EUR" });
    expect(unlock.payload.expiresAt).toBeGreaterThan(Date.now());
    return unlock;
  }

  /** A customer scans machine `id`: the machine, the invoice reference and the purchase's session id. */
  async function purchaseOn(id: MachineId): Promise<{ machine: MqttMachine; reference: string; sessionId: string }> {
    const machine = machines.get(id)!;
    const reference = await startPurchase(id);
    const { sessionId } = await purchaseOf(reference);
    return { machine, reference, sessionId };
  }

  /** The machine acts on the unlock the bridge sent it (command id `commandId`, the full 20.00 EUR budget). */
  function publishUnlocked(machine: MqttMachine, sessionId: string, commandId: string): void {
    machine.publish("unlocked", { sessionId, commandId, budgetMinor: 2_000, currency: "EUR" });
  }

  /** After the purchase: the machine is free, a new customer's createPurchase gets an invoice. */
  async function expectMachineReleased(id: MachineId): Promise<void> {
    const next = await scan(id);
    expect(next).toMatchObject({ kind: "invoice", invoiceKnown: true });
    // Decline it, so nothing is left waiting on SEQR's side.
    if (next.kind === "invoice") sandbox.app.cancel(next.invoiceReferenceId, { msisdn: customer.msisdn });
    // Everything the bridge sent this machine, before and after each crash, was valid under the contract.
    expect(machines.get(id)?.invalidCommands).toEqual([]);
    expect(machines.get(id)?.received("ack").length).toBeGreaterThan(0);
  }

  it("killed right after createPurchase answered; the customer confirms while it is down", async () => {
    const { machine, reference, sessionId } = await purchaseOn("K1");
    await restartWith(async () => {
      // The bridge is dead: SEQR's notification finds nobody. The restarted bridge must poll the status itself,
      // within SEQR's 20-second rule, or the payment is reversed.
      sandbox.app.confirm(reference, customer);
    });
    const unlock = await expectUnlock(machine, sessionId);
    publishUnlocked(machine, sessionId, unlock.payload.commandId);
    machine.publish("vended", vend(sessionId, "v1", "A1"));
    const ended = machine.publish("session-ended", end(sessionId, 1, 150));
    await machine.waitForAck(ended);
    await waitForState(reference, "committed");
    expect(sandbox.notifier.attempts(reference).some((attempt) => attempt.outcome === "failed")).toBe(true);
    expectPaidOnce(reference, 150);
    await expectMachineReleased("K1");
  });

  it("killed after the reservation (RESERVED stored), the unlock lost with it: resent, nothing vended, cancelled", async () => {
    const { machine, reference, sessionId } = await purchaseOn("K2");
    sandbox.app.confirm(reference, customer);
    // The unlock leaves only after `reserved` is stored. This copy is treated as lost: the machine never acts on it.
    const first = await expectUnlock(machine, sessionId);
    expect((await purchaseOf(reference)).state).toBe("reserved");
    const seen = machine.received("unlock").length;
    await restartWith();
    const again = await expectUnlock(machine, sessionId, seen);
    // The same command id: an agent that did get the first copy refuses this one as a replay and stays unlocked.
    expect(again.payload.commandId).toBe(first.payload.commandId);
    publishUnlocked(machine, sessionId, again.payload.commandId);
    const ended = machine.publish("session-ended", { ...end(sessionId, 0, 0), reason: "customer-done" });
    await machine.waitForAck(ended);
    await waitForState(reference, "cancelled");
    await waitUntil("the invoice cancelled at SEQR", () =>
      sandbox.ledger.get(reference)?.status === "CANCELED" ? true : undefined,
    );
    expect(sandbox.ledger.get(reference)?.paid).toBeUndefined();
    expect(commitCalls(reference)).toHaveLength(0);
    await expectMachineReleased("K2");
  });

  it("killed after `vended` was acknowledged, before session-ended: the rest arrives after the restart", async () => {
    const { machine, reference, sessionId } = await purchaseOn("K3");
    sandbox.app.confirm(reference, customer);
    const unlock = await expectUnlock(machine, sessionId);
    publishUnlocked(machine, sessionId, unlock.payload.commandId);
    await machine.waitForAck(machine.publish("vended", vend(sessionId, "v1", "A1")));
    await machine.waitForAck(machine.publish("vended", vend(sessionId, "v2", "A2")));
    let ended = "";
    await restartWith(async () => {
      // The customer is done while the bridge is down: the agent keeps the event until a bridge acknowledges it.
      ended = machine.publish("session-ended", end(sessionId, 2, 350));
    });
    await waitForState(reference, "committed");
    // The acknowledgement leaves after the event is stored, and the commit may reach SEQR before it reaches the
    // machine (CI once saw exactly that): wait for it, with the helper's deadline, rather than read a count at once.
    await machine.waitForAck(ended);
    expect(machine.unackedCount).toBe(0);
    expectPaidOnce(reference, 350);
    expect(sandbox.ledger.get(reference)?.rows.map((row) => [row.description, row.total.minor])).toEqual([
      ["Still water", 150],
      ["Cola", 200],
    ]);
    await expectMachineReleased("K3");
  });

  it("killed after session-ended, while SEQR is still working on the commit: never committed twice", async () => {
    const { machine, reference, sessionId } = await purchaseOn("K4");
    sandbox.app.confirm(reference, customer);
    const unlock = await expectUnlock(machine, sessionId);
    // SEQR takes its time over this commit: the bridge dies while it is in flight, SEQR completes it anyway.
    sandbox.faults.addCallFault({
      operation: "commitReservation",
      invoiceReference: reference,
      effect: { kind: "latency", ms: 1_000 },
    });
    publishUnlocked(machine, sessionId, unlock.payload.commandId);
    machine.publish("vended", vend(sessionId, "v1", "A2"));
    await machine.waitForAck(machine.publish("session-ended", end(sessionId, 1, 200)));
    await waitUntil("the commit in flight at SEQR", () =>
      commitCalls(reference).some((call) => call.resultCode === undefined && call.fault === undefined)
        ? true
        : undefined,
    );
    expect((await purchaseOf(reference)).state).toBe("committing");
    await restartWith();
    await waitUntil("SEQR to complete the commit", () =>
      sandbox.ledger.get(reference)?.status === "PAID" ? true : undefined,
    );
    // The restarted bridge retakes the row once the dead one's lease ends, and learns from the status that it was paid.
    await waitForState(reference, "committed");
    expectPaidOnce(reference, 200);
    await expectMachineReleased("K4");
  });

  /** SIGKILL, `whileDown` (the world goes on without the bridge), start again and wait for the machines. */
  async function restartWith(whileDown: () => Promise<void> | void = () => undefined): Promise<void> {
    await bridge?.kill();
    expect(bridge?.exitStatus?.signal).toBe("SIGKILL");
    await whileDown();
    bridge = await BridgeProcess.start(configFile, httpPort);
    await waitUntil("every machine back online at the bridge", () => health(4));
  }

  function expectPaidOnce(reference: string, minor: number): void {
    const invoice = sandbox.ledger.get(reference);
    expect(invoice?.status).toBe("PAID");
    expect(invoice?.paid).toEqual({ minor, currency: "EUR" });
    // One commitReservation call reached SEQR in all, and it succeeded: never a second one, not even a refused one.
    expect(commitCalls(reference).map((call) => call.resultCode)).toEqual([0]);
  }
});

function vend(sessionId: string, vendId: string, selection: "A1" | "A2") {
  const product = catalog.products[selection];
  return {
    sessionId,
    vendId,
    selection,
    sku: product.sku,
    name: product.name,
    priceMinor: product.priceMinor,
    currency: "EUR",
    evidence: "vend-success" as const,
  };
}

function end(sessionId: string, vendedCount: number, vendedTotalMinor: number) {
  return {
    sessionId,
    reason: vendedCount > 0 ? ("single-vend-done" as const) : ("customer-done" as const),
    vendedCount,
    vendedTotalMinor,
    unknownCount: 0,
    currency: "EUR",
  };
}

async function waitUntil<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
