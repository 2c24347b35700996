import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { expect } from "vitest";
import YAML from "yaml";
import type { SeqrSandbox } from "../../../backend-bridge/sandbox/seqr-sandbox.ts";
import type { UpsOutcome } from "../../../backend-bridge/sandbox/ups-caller.ts";
import type { Purchase, Store } from "../../../backend-bridge/store/store.ts";
import type { MqttMachine } from "./mqtt-machine.ts";

/**
 * A shop for tests that run the real bridge (`vend-bridge run`, in child processes) against the SEQR sandbox over
 * HTTP, with machines played over raw MQTT (mqtt-machine.ts): the catalog, the bridge's config file, the customer's
 * side (scan, confirm) and what the test reads back from the store and from SEQR's ledger.
 */

export const sandboxCustomer = { msisdn: "46700000001", pin: "1234" };
const terminal = { id: "public_test_shop_terminal", password: "12345678" };
export const shopCatalog = {
  currency: "EUR",
  products: {
    A1: { name: "Still water", sku: "WATER-05", priceMinor: 150 },
    A2: { name: "Cola", sku: "COLA-033", priceMinor: 200 },
  },
};
type Selection = keyof typeof shopCatalog.products;
/** What every purchase reserves: the amount the customer offers in the app. */
const budgetMinor = 2_000;

export interface MachineSecrets {
  mqttPassword: string;
  commandKey: string;
}

/** A fresh MQTT password and command key for each machine. */
export function machineSecrets<Id extends string>(ids: readonly Id[]): Record<Id, MachineSecrets> {
  return Object.fromEntries(
    ids.map((id) => [
      id,
      { mqttPassword: randomBytes(12).toString("hex"), commandKey: randomBytes(32).toString("hex") },
    ]),
  ) as Record<Id, MachineSecrets>;
}

/**
 * Writes the bridge's config: plain HTTP on `httpPort` behind `publicBaseUrl`, the sandbox's terminal with short
 * SEQR timeouts (the outbox lease of a killed bridge, 3 x requestTimeoutMs + 5 s, ends within a test), no caller
 * authentication, and the given broker, store, machines and timers.
 */
export function writeBridgeConfig(
  file: string,
  options: {
    httpPort: number;
    publicBaseUrl: string;
    sandbox: SeqrSandbox;
    broker: Record<string, unknown>;
    storeUrl: string;
    machines: Record<string, MachineSecrets>;
    timeouts: Record<string, number>;
  },
): void {
  writeFileSync(
    file,
    YAML.stringify({
      http: { host: "127.0.0.1", port: options.httpPort, plainHttp: true, publicBaseUrl: options.publicBaseUrl },
      seqr: {
        endpointUrl: options.sandbox.soapUrl,
        terminalId: terminal.id,
        password: terminal.password,
        clientId: "seqr-vend test bridge",
        requestTimeoutMs: 1_500,
        commitReservationTimeoutSeconds: 600,
      },
      broker: options.broker,
      callerAuth: { mode: "none" },
      store: { url: options.storeUrl },
      machines: Object.fromEntries(
        Object.entries(options.machines).map(([id, secrets]) => [id, { ...secrets, catalog: shopCatalog }]),
      ),
      timeouts: options.timeouts,
      log: { level: "warn" },
    }),
  );
}

/** SEQR's side (the sandbox) and the bridge's store, as the test sees them; `context` adds logs to failures. */
export class SandboxShop {
  readonly #sandbox: SeqrSandbox;
  readonly #store: Store;
  readonly #context: () => string;

  constructor(sandbox: SeqrSandbox, store: Store, context: () => string) {
    this.#sandbox = sandbox;
    this.#store = store;
    this.#context = context;
  }

  /** The customer scans the machine's QR code in the app; SEQR's UPS posts createPurchase to the bridge. */
  scan(machineId: string, amountMinor = budgetMinor): Promise<UpsOutcome> {
    return this.#sandbox.ups.scan({
      qr: `HTTP://SEQR.SE/000/ups?w=public_test_shop&t=${machineId}`,
      msisdn: sandboxCustomer.msisdn,
      amount: { minor: amountMinor, currency: "EUR" },
    });
  }

  /** A customer scans `machine`: the invoice reference and the purchase's session id. */
  async purchaseOn(machine: MqttMachine): Promise<{ reference: string; sessionId: string }> {
    const outcome = await this.scan(machine.machineId);
    if (outcome.kind !== "invoice") {
      throw new Error(`createPurchase for ${machine.machineId}: ${JSON.stringify(outcome)}\n${this.#context()}`);
    }
    expect(outcome.invoiceKnown).toBe(true);
    const { sessionId } = await this.purchaseOf(outcome.invoiceReferenceId);
    return { reference: outcome.invoiceReferenceId, sessionId };
  }

  /** The customer confirms with the PIN; SEQR notifies the purchase's notification URL. */
  confirm(reference: string): void {
    this.#sandbox.app.confirm(reference, sandboxCustomer);
  }

  async purchaseOf(reference: string): Promise<Purchase> {
    const found = (await this.#store.listPurchases({ limit: 1_000 })).find((p) => p.invoiceReference === reference);
    if (!found) throw new Error(`no purchase for invoice ${reference}`);
    return found;
  }

  async waitForState(reference: string, state: Purchase["state"], timeoutMs = 30_000): Promise<Purchase> {
    let last: Purchase | undefined;
    await waitUntil(
      `invoice ${reference} in state ${state}`,
      async () => {
        last = await this.purchaseOf(reference).catch(() => undefined);
        return last?.state === state ? true : undefined;
      },
      timeoutMs,
    ).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}; last state ${last?.state}\n${this.#context()}`);
    });
    return last!;
  }

  /** The SEQR calls of one operation for one invoice, as the sandbox recorded them (with the caller's clientId). */
  callsFor(operation: string, reference: string) {
    return this.#sandbox.soap
      .calls()
      .filter((call) => call.operation === operation && call.invoiceReference === reference);
  }

  /** SEQR's ledger is the judge: paid exactly `minor`, by one commitReservation that succeeded, never a second one. */
  expectPaidOnce(reference: string, minor: number): void {
    const invoice = this.#sandbox.ledger.get(reference);
    expect(invoice?.status).toBe("PAID");
    expect(invoice?.paid).toEqual({ minor, currency: "EUR" });
    expect(this.callsFor("commitReservation", reference).map((call) => call.resultCode)).toEqual([0]);
  }

  /**
   * The machine acts on its unlock, vends one Cola and ends the session, while SEQR takes `latencyMs` over the
   * commit: resolves with the commitReservation call in flight (its clientId says which bridge made it).
   */
  async sellColaWithSlowCommit(machine: MqttMachine, reference: string, sessionId: string, latencyMs: number) {
    const unlock = await this.expectUnlock(machine, sessionId);
    this.#sandbox.faults.addCallFault({
      operation: "commitReservation",
      invoiceReference: reference,
      effect: { kind: "latency", ms: latencyMs },
    });
    publishUnlocked(machine, sessionId, unlock.payload.commandId);
    machine.publish("vended", vendOf(sessionId, "v1", "A2"));
    await machine.waitForAck(machine.publish("session-ended", sessionEnd(sessionId, 1, 200)));
    return waitUntil("the commit in flight at SEQR", () =>
      this.callsFor("commitReservation", reference).find(
        (call) => call.resultCode === undefined && call.fault === undefined,
      ),
    );
  }

  /** The unlock the machine receives for the session: signed with its key, for the reserved amount, not expired. */
  async expectUnlock(machine: MqttMachine, sessionId: string, after = 0) {
    const unlock = await machine.waitForCommand("unlock", (command) => command.payload.sessionId === sessionId, after);
    expect(unlock.signatureValid).toBe(true);
    expect(unlock.payload).toMatchObject({ budgetMinor, currency: "EUR" });
    expect(unlock.payload.expiresAt).toBeGreaterThan(Date.now());
    return unlock;
  }
}

/** The machine acts on the unlock the bridge sent it (command id `commandId`, the full budget). */
export function publishUnlocked(machine: MqttMachine, sessionId: string, commandId: string): string {
  return machine.publish("unlocked", { sessionId, commandId, budgetMinor, currency: "EUR" });
}

/** A confirmed vend of `selection` at its catalog price. */
export function vendOf(sessionId: string, vendId: string, selection: Selection) {
  const product = shopCatalog.products[selection];
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

/** The end of a session with `vendedCount` vends worth `vendedTotalMinor`. */
export function sessionEnd(sessionId: string, vendedCount: number, vendedTotalMinor: number) {
  return {
    sessionId,
    reason: vendedCount > 0 ? ("single-vend-done" as const) : ("customer-done" as const),
    vendedCount,
    vendedTotalMinor,
    unknownCount: 0,
    currency: "EUR",
  };
}

/** Polls `probe` every 50 ms until it returns a value. */
export async function waitUntil<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
