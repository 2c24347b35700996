import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { SeqrApi } from "../seqr/seqr-api.ts";
import { SeqrError, seqrOperations } from "../seqr/seqr-errors.ts";
import type { SqlDriverStats } from "../store/sql-driver.ts";

/**
 * The bridge's Prometheus metrics, on a registry of its own (no process-wide state): createPurchase answers, sessions
 * by outcome, SEQR call latency and errors, machines online, invalid machine messages, outbox calls settled.
 */
export class BridgeMetrics {
  readonly registry = new Registry();
  readonly createPurchase: Counter<"result">;
  readonly sessions: Counter<"outcome">;
  readonly seqrCallSeconds: Histogram<"operation" | "outcome">;
  readonly seqrErrors: Counter<"operation" | "kind">;
  readonly outboxSettled: Counter<"kind" | "result">;
  readonly machinesOnline: Gauge;
  readonly invalidMachineMessages: Gauge;
  readonly store: Gauge<"counter">;

  constructor(options: {
    machinesOnline: () => number;
    invalidMachineMessages?: () => number;
    /** The store driver's counters (round trips, durable and deferred commits, WAL fsyncs). */
    storeStats?: Readonly<SqlDriverStats>;
    defaultMetrics?: boolean;
  }) {
    const registers = [this.registry];
    this.createPurchase = new Counter({
      name: "vend_bridge_create_purchase_total",
      help: "createPurchase answers by result (OK or the errorCode)",
      labelNames: ["result"],
      registers,
    });
    this.sessions = new Counter({
      name: "vend_bridge_sessions_total",
      help: "Purchases closed, by outcome",
      labelNames: ["outcome"],
      registers,
    });
    this.seqrCallSeconds = new Histogram({
      name: "vend_bridge_seqr_call_duration_seconds",
      help: "Latency of SEQR merchant API calls",
      labelNames: ["operation", "outcome"],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20],
      registers,
    });
    this.seqrErrors = new Counter({
      name: "vend_bridge_seqr_errors_total",
      help: "Failed SEQR calls by operation and kind (result, fault, http, malformed, timeout, transport)",
      labelNames: ["operation", "kind"],
      registers,
    });
    this.outboxSettled = new Counter({
      name: "vend_bridge_outbox_settled_total",
      help: "Outbox SEQR calls settled, by kind and result (done or give-up)",
      labelNames: ["kind", "result"],
      registers,
    });
    const machinesOnline = options.machinesOnline;
    this.machinesOnline = new Gauge({
      name: "vend_bridge_machines_online",
      help: "Machines whose agent is online",
      registers,
      collect() {
        this.set(machinesOnline());
      },
    });
    const invalidMachineMessages = options.invalidMachineMessages ?? (() => 0);
    // Invalid messages are logged at most 10 a minute per machine: this count is where none of them is lost.
    this.invalidMachineMessages = new Gauge({
      name: "vend_bridge_invalid_machine_messages",
      help: "Messages from machines refused as outside the MQTT contract since the bridge started",
      registers,
      collect() {
        this.set(invalidMachineMessages());
      },
    });
    const storeStats = options.storeStats;
    // What the money costs in disk flushes: durable commits per purchase is the figure to watch (6 at one vend).
    this.store = new Gauge({
      name: "vend_bridge_store_operations",
      help: "Store work since start: statements (round trips), durableCommits, deferredCommits, syncs (SQLite WAL fsyncs)",
      labelNames: ["counter"],
      registers,
      collect() {
        if (!storeStats) return;
        for (const [counter, value] of Object.entries(storeStats)) this.set({ counter }, value);
      },
    });
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: "vend_bridge_" });
  }

  /** Wraps a SeqrApi so that every call is timed and every failure counted. */
  instrumentSeqr(api: SeqrApi): SeqrApi {
    const instrumented = {} as Record<string, unknown>;
    for (const operation of seqrOperations) {
      const call = (api[operation] as (...args: unknown[]) => Promise<unknown>).bind(api);
      instrumented[operation] = async (...args: unknown[]) => {
        const stop = this.seqrCallSeconds.startTimer({ operation });
        try {
          const result = await call(...args);
          stop({ outcome: "ok" });
          return result;
        } catch (error) {
          stop({ outcome: "error" });
          this.seqrErrors.inc({ operation, kind: error instanceof SeqrError ? error.kind : "other" });
          throw error;
        }
      };
    }
    return instrumented as unknown as SeqrApi;
  }
}
