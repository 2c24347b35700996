import { describe, expect, it } from "vitest";
import { hasTool } from "../helpers/system-tools.ts";
import { type BrokerKind, ChaosCluster } from "./cluster.ts";
import { checkInvariants, describeVerdict } from "./invariants.ts";
import { Nemesis, type NemesisAction, nemesisActions } from "./nemesis.ts";
import { Random } from "./random.ts";
import { Workload } from "./workload.ts";

/**
 * The chaos test (issue 15): the real bridge, real agents on simulators and the SEQR sandbox, customers buying all the
 * time, and a seeded nemesis killing, freezing and cutting things. At the end everything is healed, the system is
 * left to go quiet, every machine is probed with one more createPurchase, and the checker compares SEQR's invoices,
 * the bridge's store and the physical ledgers (invariants.ts).
 *
 * Short run (part of `npm test`, fixed seeds): CHAOS_SECONDS (default 30) of chaos per broker configuration.
 * Long run: `npm run chaos` (CHAOS_MINUTES=30, split between the two configurations, random seed printed);
 * CHAOS_SEED=<n> repeats a seed, CHAOS_ACTIONS=a,b,... chooses the nemesis's actions, CHAOS_MACHINES the fleet size.
 */

const minutes = Number(process.env.CHAOS_MINUTES ?? "0");
const long = minutes > 0;
const chaosMs = long ? (minutes * 60_000) / 2 : Number(process.env.CHAOS_SECONDS ?? "30") * 1_000;
const machines = Number(process.env.CHAOS_MACHINES ?? (long ? "3" : "2"));

/**
 * Actions left out of the CI run because the current product fails them (issue 15's defects, being fixed by other
 * helpers); the lead re-enables them after merging the fixes. The long run uses every action unless CHAOS_ACTIONS says.
 */
// Every nemesis action runs in CI. (seqr-slow-invoice was left out until a late sendInvoice answer could still be
// received and its invoice cancelled: backend-bridge/seqr/seqr-client-factory.ts.) Name an action here, with the
// defect it shows, only while its fix is pending.
const leftOutInCi: Partial<Record<NemesisAction, string>> = {};

function chosenActions(): readonly NemesisAction[] {
  const named = process.env.CHAOS_ACTIONS?.split(",").map((name) => name.trim());
  if (named) {
    const unknown = named.filter((name) => !(nemesisActions as readonly string[]).includes(name));
    if (unknown.length > 0) throw new Error(`CHAOS_ACTIONS: unknown ${unknown.join(", ")}; known ${nemesisActions}`);
    return named as NemesisAction[];
  }
  return long ? nemesisActions : nemesisActions.filter((action) => leftOutInCi[action] === undefined);
}

function seedFor(broker: BrokerKind): number {
  if (process.env.CHAOS_SEED) return Number(process.env.CHAOS_SEED);
  if (!long) return broker === "embedded" ? 1501 : 1502;
  return Math.floor(Math.random() * 2 ** 31);
}

const configurations: Array<{ broker: BrokerKind; available: boolean }> = [
  { broker: "embedded", available: true },
  { broker: "mosquitto", available: hasTool("mosquitto") },
];

// Start-up of four Node processes on a shared 2-core machine (minutes under load), the chaos, healing (outbox
// backoff, session timers) and the probes: generous, and the waits inside are event-driven.
const testTimeoutMs = chaosMs + 900_000;

/**
 * SEQR's "about 5 s" for createPurchase, plus room for a loaded CI machine (CHAOS_SLACK_MS): a bridge that waits for a
 * slow SEQR call or for nothing goes far past it, a busy machine only a little.
 */
const createPurchaseDeadlineMs = 5_000 + Number(process.env.CHAOS_SLACK_MS ?? "2000");

describe("chaos: the real bridge, agents and SEQR sandbox under a seeded nemesis", () => {
  for (const { broker, available } of configurations) {
    it.runIf(available)(
      `keeps the money and the machines right (${broker} broker)`,
      { timeout: testTimeoutMs },
      async () => {
        const seed = seedFor(broker);
        const actions = chosenActions();
        const startedAt = Date.now();
        console.log(`chaos (${broker}): seed ${seed}, ${machines} machines, ${chaosMs / 1000} s, actions ${actions}`);
        const random = new Random(seed);
        const cluster = await ChaosCluster.start({ broker, machines });
        const workload = new Workload(cluster, random.fork("workload"));
        const nemesis = new Nemesis(cluster, random.fork("nemesis"), actions);
        try {
          const upAt = Date.now();
          workload.start();
          nemesis.start();
          await new Promise((wait) => setTimeout(wait, chaosMs));
          await nemesis.stop();
          await workload.stop();
          await cluster.heal();
          const healedAt = Date.now();
          const stillBusy = await cluster.quiescence(240_000);
          // Every machine must sell again: one more customer each, who then declines in the app.
          for (const [index, id] of cluster.machineIds.entries()) {
            const msisdn = `4679${String(index + 1).padStart(7, "0")}`;
            const probe = await workload.scan(cluster.sandbox, id, msisdn, true);
            if (probe.kind === "invoice" && probe.invoiceReference) {
              try {
                cluster.sandbox.app.cancel(probe.invoiceReference, { msisdn });
              } catch {
                // already closed by the bridge: nothing to decline
              }
            }
          }
          const stillBusyAfterProbes = await cluster.quiescence(120_000);
          const records = await cluster.records(workload.scans);
          const verdict = checkInvariants(records.sandbox, records.store, records.physical, {
            machines: cluster.machineIds,
            prices: cluster.prices,
            createPurchaseDeadlineMs,
            bridgeOutages: cluster.outages,
          });
          const report = [
            `chaos (${broker}) seed ${seed}: start-up ${((upAt - startedAt) / 1000).toFixed(0)} s, chaos ${chaosMs / 1000} s, ` +
              `quiet ${((Date.now() - healedAt) / 1000).toFixed(0)} s after healing` +
              (stillBusy ? ` (NOT quiet after healing: ${stillBusy})` : "") +
              (stillBusyAfterProbes ? ` (NOT quiet after the probes: ${stillBusyAfterProbes})` : ""),
            `workload: ${JSON.stringify(workload.stats)}; createPurchase answers: ${JSON.stringify(answers(workload))}`,
            `nemesis: ${nemesis.history.length} actions (${nemesisCounts(nemesis)}), ${cluster.outages.length} bridge outages`,
            describeVerdict(verdict),
          ].join("\n");
          console.log(report);
          expect(
            verdict.violations,
            `${report}\nnemesis:\n${nemesis.history.join("\n")}\n${cluster.describe()}`,
          ).toEqual([]);
          // A run in which nobody bought anything proves nothing.
          expect(verdict.totals.paid, report).toBeGreaterThan(0);
        } finally {
          await nemesis.stop();
          await workload.stop();
          await cluster.close();
        }
      },
    );
  }
});

/** createPurchase outcomes by kind and error code, for the report. */
function answers(workload: Workload): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const scan of workload.scans) {
    const key = scan.errorCode ?? scan.kind;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

/** How often each action ran, for the report. */
function nemesisCounts(nemesis: Nemesis): string {
  const counts = new Map<string, number>();
  for (const entry of nemesis.history) {
    const action = entry.split(" ")[1] ?? "?";
    if ((nemesisActions as readonly string[]).includes(action)) counts.set(action, (counts.get(action) ?? 0) + 1);
  }
  return [...counts].map(([action, count]) => `${action} ${count}`).join(", ");
}
