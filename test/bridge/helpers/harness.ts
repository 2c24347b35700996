import { afterEach, describe } from "vitest";
import { type BridgeApp, createBridgeApp } from "../../../backend-bridge/bridge-app.ts";
import type { Store } from "../../../backend-bridge/store/store.ts";
import { type BridgeConfig, bridgeConfigSchema } from "../../../config/schema/bridge.ts";
import { type Logger, silentLogger } from "../../../platform/logger.ts";
import { deepMerge, testOnlyInsecureChoices } from "../../helpers/bridge-test-config.ts";
import { ManualClock, settle } from "../../helpers/manual-clock.ts";
import { FakeFleet } from "./fake-fleet.ts";
import { FakeSeqr } from "./fake-seqr.ts";
import { createTestStore, type StoreKind, storeKinds, type TestStore } from "./test-stores.ts";

export const machineKey = "ab".repeat(32);

export function testConfig(overrides: Record<string, unknown> = {}): BridgeConfig {
  const base = {
    http: {
      host: "127.0.0.1",
      port: 0,
      plainHttp: true,
      publicBaseUrl: "https://bridge.example/seqr",
      rateLimitPerTokenPerMinute: 10_000,
      rateLimitPerCallerPerMinute: 10_000,
    },
    seqr: {
      endpointUrl: "http://127.0.0.1:1/soap",
      terminalId: "0123456789abcdef0123456789abcdef",
      password: "secret-password",
      requestTimeoutMs: 5_000,
      commitReservationTimeoutSeconds: 600,
    },
    machines: {
      M1: {
        name: "Lobby",
        commandKey: machineKey,
        catalog: {
          currency: "EUR",
          products: {
            A1: { name: "Still water", sku: "WATER-05", priceMinor: 150 },
            A2: { name: "Cola", sku: "COLA-033", priceMinor: 200 },
            A3: { name: "Sandwich", sku: "SANDW-1", priceMinor: 5_000 },
          },
        },
      },
      M2: {
        commandKey: machineKey,
        catalog: { currency: "SEK", products: { B1: { name: "Chocolate", sku: "CHOC", priceMinor: 1500 } } },
      },
    },
    timeouts: {
      paymentConfirmMs: 120_000,
      unlockAckMs: 10_000,
      statusPollIntervalMs: 3_000,
      sessionMaxMs: 300_000,
      commandTtlMs: 10_000,
      clockSkewMs: 5_000,
    },
  };
  return bridgeConfigSchema.parse(deepMerge(deepMerge(testOnlyInsecureChoices(), base), overrides));
}

/** M1's catalog as the machine reports a vend of it. */
const m1Products = {
  A1: { sku: "WATER-05", name: "Still water" },
  A2: { sku: "COLA-033", name: "Cola" },
  A3: { sku: "SANDW-1", name: "Sandwich" },
} as const;

/**
 * A confirmed `vended` event body for one of M1's products, in EUR. Unless said, the selection is the first whose
 * catalog price (150, 200, 5000) is not below the reported price: the bridge bills at most the catalog price.
 */
export function vendedEvent(
  sessionId: string,
  vendId: string,
  priceMinor = 150,
  selection: "A1" | "A2" | "A3" = priceMinor <= 150 ? "A1" : priceMinor <= 200 ? "A2" : "A3",
) {
  return {
    sessionId,
    vendId,
    selection,
    ...m1Products[selection],
    priceMinor,
    currency: "EUR",
    evidence: "vend-success" as const,
  };
}

/** A `vend-unknown` event body: M1's cola (A2, 2.00 EUR) whose outcome the machine lost in a restart. */
/** A `vend-failed` event body: A1 (1.50 EUR) not delivered, or jammed. */
export function vendFailedEvent(
  sessionId: string,
  vendId: string,
  outcome: "not-delivered" | "jammed" = "not-delivered",
) {
  return {
    sessionId,
    vendId,
    selection: "A1",
    priceMinor: 150,
    currency: "EUR",
    outcome,
    evidence: outcome === "jammed" ? ("jam" as const) : ("vend-failure" as const),
  };
}

export function vendUnknownEvent(sessionId: string, vendId: string) {
  return { sessionId, vendId, selection: "A2", priceMinor: 200, currency: "EUR", evidence: "restart" as const };
}

/** A `session-ended` event body: the customer is done after the given vends, in EUR. */
export function sessionEndedEvent(sessionId: string, vendedCount: number, vendedTotalMinor: number, unknownCount = 0) {
  return {
    sessionId,
    reason: "customer-done" as const,
    vendedCount,
    vendedTotalMinor,
    unknownCount,
    currency: "EUR",
  };
}

/** How a Harness is built beyond its configuration. */
export interface HarnessOptions {
  /** The bridge's logger (silent unless given): a test that checks what the operator reads passes capturedLogs(). */
  logger?: Logger;
}

export type StartHarness = (overrides?: Record<string, unknown>, options?: HarnessOptions) => Promise<Harness>;

/** Registers an afterEach that closes the test's Harness; the returned function starts it (one per test). */
export function harnessPerTest(kind: StoreKind): StartHarness {
  let current: Harness | undefined;
  afterEach(async () => {
    await current?.close();
    current = undefined;
  });
  return async (overrides = {}, options = {}) => {
    current = await Harness.start(kind, overrides, options);
    return current;
  };
}

/** `describe.each(storeKinds)` with a fresh Harness per test: the title gets " on sqlite" / " on postgres". */
export function describeEachStore(title: string, body: (start: StartHarness, kind: StoreKind) => void): void {
  describe.each(storeKinds)(`${title} on %s`, (kind) => body(harnessPerTest(kind), kind));
}

/** One bridge over a test store, a fake SEQR, a fake fleet and a manual clock; `restart()` reopens it on the same DB. */
export class Harness {
  readonly clock = new ManualClock();
  readonly seqr = new FakeSeqr();
  fleet = new FakeFleet();
  app!: BridgeApp;
  store!: Store;
  readonly config: BridgeConfig;
  readonly testStore: TestStore;
  readonly #logger: Logger;

  private constructor(testStore: TestStore, config: BridgeConfig, logger: Logger) {
    this.testStore = testStore;
    this.config = config;
    this.#logger = logger;
    this.seqr.now = () => this.clock.now();
  }

  static async start(
    kind: StoreKind,
    overrides: Record<string, unknown> = {},
    options: HarnessOptions = {},
  ): Promise<Harness> {
    const harness = new Harness(await createTestStore(kind), testConfig(overrides), options.logger ?? silentLogger());
    harness.fleet.setOnline("M1");
    harness.fleet.setOnline("M2");
    await harness.#boot(harness.testStore.store);
    return harness;
  }

  /** Store calls in flight: the bridge is quiet when none is running for a few event-loop turns. */
  #inFlight = 0;

  /** Waits until no store call has been running for a few event-loop turns (real I/O included). */
  async quiesce(): Promise<void> {
    for (let quiet = 0; quiet < 3; ) {
      await settle(3);
      if (this.#inFlight === 0) quiet++;
      else {
        quiet = 0;
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    }
  }

  /** `store` with its calls counted by quiesce(): for a second bridge instance on the same clock. */
  counted(store: Store): Store {
    return this.#counting(store);
  }

  #counting(store: Store): Store {
    return new Proxy(store, {
      get: (target, property, receiver) => {
        const value = Reflect.get(target, property, receiver) as unknown;
        if (typeof value !== "function") return value;
        return (...args: unknown[]) => {
          const result = (value as (...a: unknown[]) => unknown).apply(target, args);
          if (result instanceof Promise) {
            this.#inFlight++;
            return result.finally(() => this.#inFlight--);
          }
          return result;
        };
      },
    });
  }

  async #boot(rawStore: Store): Promise<void> {
    this.clock.quiesce = () => this.quiesce();
    const store = this.#counting(rawStore);
    this.store = store;
    this.app = createBridgeApp({
      config: this.config,
      store,
      seqr: this.seqr,
      fleet: this.fleet,
      clock: this.clock,
      logger: this.#logger,
      defaultMetrics: false,
      outbox: { pollIntervalMs: 1_000, backoff: { baseMs: 1_000, maxMs: 30_000 } },
    });
    await this.app.start();
  }

  /**
   * The bridge "dies" and starts again on the same database: the old instance does nothing more (its timers are
   * dropped, its store connection closed, its HTTP server stopped) and a new one resumes from the store.
   */
  async restart(options: { downForMs?: number } = {}): Promise<void> {
    await this.app.stop();
    await this.store.close();
    // Time passes while no bridge runs (an outage): nothing of the old instance may react to it.
    if (options.downForMs) await this.clock.advance(options.downForMs);
    const online = [...this.fleet.online];
    const sent = this.fleet.sent;
    this.fleet = new FakeFleet();
    this.fleet.sent.push(...sent);
    for (const machineId of online) this.fleet.online.add(machineId);
    await this.#boot(await this.testStore.open());
  }

  /** Other bridge instances on the same database, stopped by close() before this one. */
  readonly #others: BridgeApp[] = [];

  /**
   * Starts another bridge instance on this harness's database, SEQR, config and clock, with its own fleet link.
   * `countStoreCalls` makes the manual clock wait for its store calls too.
   */
  async startOtherInstance(fleet: FakeFleet, options: { countStoreCalls?: boolean } = {}): Promise<BridgeApp> {
    const store = await this.testStore.open();
    const other = createBridgeApp({
      config: this.config,
      store: options.countStoreCalls ? this.counted(store) : store,
      seqr: this.seqr,
      fleet,
      clock: this.clock,
      logger: silentLogger(),
      defaultMetrics: false,
    });
    this.#others.push(other);
    await other.start();
    return other;
  }

  async close(): Promise<void> {
    for (const other of this.#others.splice(0)) await other.stop().catch(() => undefined);
    await this.app.stop().catch(() => undefined);
    await this.testStore.cleanup();
  }

  get baseUrl(): string {
    return `${this.app.http.url}/seqr`;
  }

  async createPurchase(
    body: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; json: Record<string, unknown> }> {
    const response = await fetch(`${this.baseUrl}/createPurchase`, {
      method: "POST",
      headers: { "Content-Type": "application/json;charset=UTF-8", Accept: "application/json", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
    return { status: response.status, json: (await response.json()) as Record<string, unknown> };
  }

  /** createPurchase for M1 with 20.00 EUR; returns the invoice reference. */
  async purchase(machineId = "M1", amount: number | string = 20, currency = "EUR"): Promise<string> {
    const { json } = await this.createPurchase({ token: machineId, amount, currency, msisdn: "46701234567" });
    if (typeof json.invoiceReferenceId !== "string") throw new Error(`createPurchase failed: ${JSON.stringify(json)}`);
    return json.invoiceReferenceId;
  }

  async purchaseFor(reference: string) {
    const all = await this.store.listPurchases({ limit: 1000 });
    const found = all.find((purchase) => purchase.invoiceReference === reference);
    if (!found) throw new Error(`no purchase for ${reference}`);
    return found;
  }

  /** SEQR's notification POST to the purchase's URL; resolves with the HTTP status (the check runs afterwards). */
  async notify(reference: string): Promise<number> {
    const purchase = await this.purchaseFor(reference);
    const response = await fetch(`${this.baseUrl}/notify/${purchase.notifySecret}`, { method: "POST" });
    await response.arrayBuffer();
    await this.quiesce();
    return response.status;
  }

  /** Customer confirms, SEQR notifies, the bridge sends unlock: returns the session id. */
  async reserve(reference: string): Promise<string> {
    this.seqr.confirm(reference);
    await this.notify(reference);
    const purchase = await this.waitForState(reference, "reserved");
    return purchase.sessionId;
  }

  /** A purchase for M1 (20.00 EUR) taken as far as `reserved` (the unlock sent): its reference and session id. */
  async reservedPurchase(): Promise<{ reference: string; sessionId: string }> {
    const reference = await this.purchase();
    return { reference, sessionId: await this.reserve(reference) };
  }

  /** A purchase of `amount` on M1, reserved and unlocked by the machine with a budget of the same amount. */
  async unlockedPurchase(amount: string): Promise<{ reference: string; sessionId: string }> {
    const reference = await this.purchase("M1", amount);
    const sessionId = await this.reserve(reference);
    const budgetMinor = Math.round(Number(amount) * 100);
    await this.fleet.emit("M1", "unlocked", { sessionId, commandId: "x", budgetMinor, currency: "EUR" });
    return { reference, sessionId };
  }

  /** The bridge restarts before its fleet link (and so the machine) is back: M1 is offline when it comes up. */
  async restartWithMachineOffline(): Promise<void> {
    this.fleet.setOnline("M1", false);
    await this.restart();
  }

  async waitForState(reference: string, state: string, timeoutMs = 20_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await this.quiesce();
      const purchase = await this.purchaseFor(reference);
      if (purchase.state === state) return purchase;
      if (Date.now() > deadline) throw new Error(`purchase is ${purchase.state}, expected ${state}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /** M1 unlocks (2000 budget), vends water at each price (vend ids v1, v2, ...) and the customer ends the session. */
  async vendAndEnd(sessionId: string, prices: number[]): Promise<void> {
    await this.fleet.emit("M1", "unlocked", { sessionId, commandId: "x", budgetMinor: 2000, currency: "EUR" });
    for (const [index, priceMinor] of prices.entries()) {
      await this.fleet.emit("M1", "vended", vendedEvent(sessionId, `v${index + 1}`, priceMinor));
    }
    const total = prices.reduce((a, b) => a + b, 0);
    await this.fleet.emit("M1", "session-ended", sessionEndedEvent(sessionId, prices.length, total));
  }

  /** M1 unlocks, vends water (v1), reports a vend of unknown outcome (v2) and the session ends: flagged unknown-vend. */
  async vendOneAndOneUnknown(sessionId: string, machineId = "M1"): Promise<void> {
    await this.fleet.emit(machineId, "unlocked", { sessionId, commandId: "x", budgetMinor: 2000, currency: "EUR" });
    await this.fleet.emit(machineId, "vended", vendedEvent(sessionId, "v1"));
    await this.fleet.emit(machineId, "vend-unknown", vendUnknownEvent(sessionId, "v2"));
    await this.fleet.emit(machineId, "session-ended", sessionEndedEvent(sessionId, 1, 150, 1));
  }

  /** Runs the outbox until nothing is due (time does not move). */
  async drainOutbox(): Promise<void> {
    await this.quiesce();
    await this.app.outbox.runDue();
  }
}
