import type { BridgeConfig } from "../config/schema/bridge.ts";
import type { Clock } from "../platform/clock.ts";
import type { Logger } from "../platform/logger.ts";
import { AlarmMonitor } from "./alarms/alarm-monitor.ts";
import { OperatorConsole } from "./console/operator-console.ts";
import { CatalogPush } from "./fleet/catalog-push.ts";
import type { FleetLink } from "./fleet/fleet-link.ts";
import { AdminHttpServer } from "./http/admin-server.ts";
import { BridgeMetrics } from "./http/metrics.ts";
import { BridgeHttpServer } from "./http/server.ts";
import { PeriodCloseScheduler } from "./operator/period-close-scheduler.ts";
import { periodCloseSettings } from "./operator/period-close-settings.ts";
import { OutboxWorker } from "./outbox/outbox-worker.ts";
import { seqrCallHandlers } from "./outbox/seqr-calls.ts";
import { PurchaseOrchestrator } from "./purchase/orchestrator.ts";
import { MachineRegistry } from "./registry/machine-registry.ts";
import type { SeqrApi } from "./seqr/seqr-api.ts";
import type { Store } from "./store/store.ts";

/**
 * The bridge's purchase side wired together: registry, metrics, orchestrator, outbox worker and HTTP server over a
 * given store, SEQR client and fleet link. main.ts builds those three from the configuration; tests and benchmarks
 * hand in fakes or the sandbox. The store, SEQR client and fleet link stay owned by the caller.
 */
export interface BridgeAppDeps {
  config: BridgeConfig;
  store: Store;
  seqr: SeqrApi;
  fleet: FleetLink;
  clock: Clock;
  logger: Logger;
  registry?: MachineRegistry;
  outbox?: { pollIntervalMs?: number; backoff?: { baseMs: number; maxMs: number } };
  /** Process metrics (CPU, heap) on /metrics; tests switch them off. */
  defaultMetrics?: boolean;
}

export interface BridgeApp {
  registry: MachineRegistry;
  metrics: BridgeMetrics;
  orchestrator: PurchaseOrchestrator;
  outbox: OutboxWorker;
  http: BridgeHttpServer;
  /** /healthz, /metrics and the web console, on the admin listener. */
  admin: AdminHttpServer;
  console: OperatorConsole;
  /** Machine offline, jammed slot, stuck reconciliation item: shown in the console, posted to the webhook. */
  alarms: AlarmMonitor;
  /** Catalog changes from the console: stored, audited and pushed to the machine as cmd/config (again on reconnect). */
  catalogs: CatalogPush;
  /** Resumes open purchases, starts the outbox and listens. The fleet link is started by the caller, after this. */
  start(): Promise<void>;
  /** Graceful stop: no new requests, requests and checks in flight finish, timers stop, the outbox pass ends. */
  stop(): Promise<void>;
}

export function createBridgeApp(deps: BridgeAppDeps): BridgeApp {
  const { config, store, fleet, clock, logger } = deps;
  const registry = deps.registry ?? new MachineRegistry({ machines: config.machines, store, clock });
  const metrics = new BridgeMetrics({
    machinesOnline: () => fleet.onlineCount(),
    invalidMachineMessages: () => fleet.invalidMessageCount?.() ?? 0,
    storeStats: deps.store.stats,
    ...(deps.defaultMetrics !== undefined ? { defaultMetrics: deps.defaultMetrics } : {}),
  });
  const seqr = metrics.instrumentSeqr(deps.seqr);
  const notificationUrl = (secret: string) => `${config.http.publicBaseUrl.replace(/\/+$/, "")}/notify/${secret}`;
  // Longer than any SEQR call with its retries inside one attempt: a row still leased is still being worked on.
  const outboxLeaseMs = config.seqr.requestTimeoutMs * 3 + 5_000;
  const outbox = new OutboxWorker({
    store,
    clock,
    logger,
    handlers: seqrCallHandlers({
      seqr,
      store,
      notificationUrl: (purchase) => notificationUrl(purchase.notifySecret),
      commitReservationTimeoutSeconds: config.seqr.commitReservationTimeoutSeconds,
      submitReceipts: config.seqr.submitReceipts,
      onClosed: (outcome) => metrics.sessions.inc({ outcome }),
    }),
    leaseMs: outboxLeaseMs,
    ...(deps.outbox?.pollIntervalMs !== undefined ? { pollIntervalMs: deps.outbox.pollIntervalMs } : {}),
    ...(deps.outbox?.backoff ? { backoff: deps.outbox.backoff } : {}),
    onSettled: (item, outcome) => metrics.outboxSettled.inc({ kind: item.kind, result: outcome.result }),
  });
  const orchestrator = new PurchaseOrchestrator(
    {
      store,
      seqr,
      fleet,
      machines: registry,
      clock,
      logger,
      outbox,
      observer: {
        createPurchase: (result) => metrics.createPurchase.inc({ result }),
        sessionClosed: (outcome) => metrics.sessions.inc({ outcome }),
      },
    },
    {
      publicBaseUrl: config.http.publicBaseUrl,
      commitReservationTimeoutSeconds: config.seqr.commitReservationTimeoutSeconds,
      seqrCallTimeoutMs: config.seqr.requestTimeoutMs,
      timeouts: config.timeouts,
      keepMsisdn: config.store.keepMsisdn,
    },
  );
  const purchases = orchestrator;
  const http = new BridgeHttpServer({
    http: config.http,
    callerAuth: config.callerAuth,
    purchases,
    metrics,
    logger,
    now: () => clock.now(),
  });
  // The period close needs the RESELLERUSER principal; without it the bridge reconciles nothing with SEQR.
  const periodClose = config.seqr.resellerUser
    ? new PeriodCloseScheduler({ store, seqr, clock, logger, settings: periodCloseSettings(config) })
    : undefined;
  const catalogs = new CatalogPush({ fleet, registry, clock, logger, ttlMs: config.timeouts.commandTtlMs });
  // The admin listener is plain HTTP (loopback by default): the session cookie is not Secure there.
  const alarms = new AlarmMonitor({ store, registry, fleet, clock, logger, settings: config.alarms });
  const operatorConsole = new OperatorConsole({
    store,
    registry,
    fleet,
    seqr,
    alarms,
    catalogs,
    clock,
    logger,
    tls: false,
  });
  const admin = new AdminHttpServer({
    admin: config.admin,
    metrics,
    health: async () => {
      await store.ping();
      return { machinesOnline: fleet.onlineCount() };
    },
    logger,
    console: operatorConsole,
  });
  return {
    registry,
    metrics,
    orchestrator: purchases,
    outbox,
    http,
    admin,
    console: operatorConsole,
    alarms,
    catalogs,
    async start() {
      // Before any outbox row is leased: rows a dead process may have had in flight wait out a lease (SQLite).
      const held = await deps.store.beginOutboxRun(clock.now(), outboxLeaseMs);
      if (held > 0) logger.warn({ held, forMs: outboxLeaseMs }, "outbox rows of a bridge that died held back a lease");
      catalogs.start();
      await purchases.start();
      outbox.start();
      await periodClose?.start();
      alarms.start();
      await admin.listen();
      await http.listen();
    },
    async stop() {
      admin.markStopping();
      await http.close();
      await purchases.stop();
      await outbox.stop();
      await deps.store.endOutboxRun().catch(() => undefined);
      await periodClose?.stop();
      await alarms.stop();
      await admin.close();
    },
  };
}
