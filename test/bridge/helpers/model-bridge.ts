import { type BridgeApp, createBridgeApp } from "../../../backend-bridge/bridge-app.ts";
import type { SeqrApi } from "../../../backend-bridge/seqr/seqr-api.ts";
import { SeqrTransportError } from "../../../backend-bridge/seqr/seqr-errors.ts";
import { openStore } from "../../../backend-bridge/store/open-store.ts";
import type { Store } from "../../../backend-bridge/store/store.ts";
import { type BridgeConfig, bridgeConfigSchema } from "../../../config/schema/bridge.ts";
import { silentLogger } from "../../../platform/logger.ts";
import { testOnlyInsecureChoices } from "../../helpers/bridge-test-config.ts";
import { type ClockView, ModelClock } from "./model-clock.ts";
import { type FleetView, ModelFleet } from "./model-fleet.ts";
import { ModelSeqr } from "./model-seqr.ts";

/**
 * The system under test of the model-based purchase test: the real bridge (createBridgeApp: the real orchestrator and
 * outbox worker) over the real SQLite store, with SEQR, the fleet and time simulated. `crash()` kills the running
 * instance the hard way (its store, SEQR and fleet access fail from then on, its timers never fire) and starts a new
 * one on the same database, which resumes from the store as a restarted process would.
 */

export const registryPrices: Record<string, number> = { A1: 150, A2: 200 };

export function modelConfig(overrides: Partial<BridgeConfig["timeouts"]> = {}): BridgeConfig {
  // Timeouts are the product's defaults (the configuration a fleet really runs), except status polling at its
  // allowed maximum: fewer timer firings per simulated minute, so more runs fit in CI's time.
  return bridgeConfigSchema.parse({
    ...testOnlyInsecureChoices(),
    http: {
      host: "127.0.0.1",
      port: 0,
      plainHttp: true,
      publicBaseUrl: "https://bridge.example/seqr",
      rateLimitPerTokenPerMinute: 100_000,
      rateLimitPerCallerPerMinute: 100_000,
    },
    seqr: {
      endpointUrl: "http://127.0.0.1:1/soap",
      terminalId: "0123456789abcdef0123456789abcdef",
      password: "secret-password",
    },
    machines: {
      M1: {
        name: "Lobby",
        commandKey: "ab".repeat(32),
        catalog: {
          currency: "EUR",
          products: {
            A1: { name: "Still water", sku: "WATER-05", priceMinor: registryPrices.A1 },
            A2: { name: "Cola", sku: "COLA-033", priceMinor: registryPrices.A2 },
          },
        },
      },
    },
    timeouts: { statusPollIntervalMs: 10_000, ...overrides },
  });
}

interface Instance {
  app: BridgeApp;
  clock: ClockView;
  fleet: FleetView;
  dead: boolean;
}

export class ModelBridge {
  readonly clock = new ModelClock();
  readonly config: BridgeConfig;
  readonly seqr: ModelSeqr;
  readonly fleet: ModelFleet;
  readonly store: Store;
  #instance!: Instance;
  #inFlight = 0;
  restarts = 0;

  private constructor(store: Store, config: BridgeConfig) {
    this.store = store;
    this.config = config;
    this.seqr = new ModelSeqr(this.clock, config.seqr.commitReservationTimeoutSeconds, config.seqr.requestTimeoutMs);
    this.fleet = new ModelFleet(this.clock);
  }

  static async start(config = modelConfig()): Promise<ModelBridge> {
    const { store } = await openStore("sqlite::memory:");
    const bridge = new ModelBridge(store, config);
    await bridge.#boot();
    return bridge;
  }

  get app(): BridgeApp {
    return this.#instance.app;
  }

  async #boot(): Promise<void> {
    const instance = { dead: false } as Instance;
    instance.clock = this.clock.view();
    instance.fleet = this.fleet.view();
    instance.app = createBridgeApp({
      config: this.config,
      store: this.#fenced(this.store, instance),
      seqr: this.#fencedSeqr(instance),
      fleet: instance.fleet,
      clock: instance.clock,
      logger: silentLogger(),
      defaultMetrics: false,
      outbox: { pollIntervalMs: 15_000, backoff: { baseMs: 1_000, maxMs: 30_000 } },
    });
    this.#instance = instance;
    await instance.app.start();
  }

  /** The process dies between two steps and a new one starts on the same database. */
  async crash(): Promise<void> {
    await this.#kill();
    this.restarts++;
    await this.#boot();
    await this.quiesce();
  }

  async close(): Promise<void> {
    await this.#kill();
    this.seqr.releaseAll();
    await this.quiesce();
    await this.store.close();
  }

  /** Kills the running instance: its timers, fleet link and HTTP server die at once. */
  async #kill(): Promise<void> {
    const old = this.#instance;
    old.dead = true;
    old.clock.kill();
    old.fleet.kill();
    await old.app.http.close(0).catch(() => undefined);
    await old.app.admin.close().catch(() => undefined);
    // Not awaited: a dead process does not finish its work; whatever it still tries fails on the fences.
    void old.app.stop().catch(() => undefined);
  }

  /** The store as one instance sees it: refused once the instance is dead; calls in flight counted for quiesce. */
  #fenced(store: Store, instance: Instance): Store {
    return new Proxy(store, {
      get: (target, property, receiver) => {
        const value = Reflect.get(target, property, receiver) as unknown;
        if (typeof value !== "function") return value;
        return (...args: unknown[]) => {
          if (instance.dead) return Promise.reject(new Error("process crashed"));
          if (property === "close") return Promise.resolve();
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

  #fencedSeqr(instance: Instance): SeqrApi {
    return new Proxy(this.seqr, {
      get: (target, property) => {
        const value = Reflect.get(target, property) as unknown;
        if (typeof value !== "function") return value;
        return (...args: unknown[]) => {
          if (instance.dead) {
            return Promise.reject(new SeqrTransportError("sendInvoice", new Error("process crashed")));
          }
          const result = (value as (...a: unknown[]) => unknown).apply(target, args);
          if (property !== "sendInvoice") return result;
          // Only a live process holds the reference it was answered: a crashed one cannot cancel anything.
          return (result as ReturnType<SeqrApi["sendInvoice"]>).then((answer) => {
            const invoice = this.seqr.invoices.get(answer.invoiceReference);
            if (invoice && !instance.dead) invoice.answered = true;
            return answer;
          });
        };
      },
    }) as SeqrApi;
  }

  /** Until no store call has run for a few event-loop turns. */
  async quiesce(): Promise<void> {
    for (let quiet = 0; quiet < 3; ) {
      for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.#inFlight === 0) quiet++;
      else quiet = 0;
    }
  }

  async advanceTo(at: number): Promise<void> {
    await this.clock.advanceTo(at, () => this.quiesce());
    this.seqr.expireDue();
  }

  async advance(ms: number): Promise<void> {
    await this.advanceTo(this.clock.now() + ms);
  }
}
