import { type CliCommand, type CliContext, parseCommandArgs, UsageError } from "../../platform/cli.ts";
import { ExitCode } from "../../platform/exit-codes.ts";
import type { PurchaseQuery } from "../store/store.ts";
import { instant, limitArgument, machineArgument, money, stateArgument } from "./cli-words.ts";
import { withOperatorStore } from "./operator-store.ts";
import { PeriodError, parsePeriod } from "./period.ts";
import type { PurchaseView } from "./purchase-view.ts";
import { listPurchases, type PurchaseTimeline, purchaseTimeline, type TimelineEntry } from "./purchases-query.ts";

/**
 * `vend-bridge purchases list|show`: the purchases in the store, filtered, and one purchase's timeline (every
 * transition, SEQR outcome and machine event from the audit log, the vends, the outbox of SEQR calls).
 */
export const purchasesCommand: CliCommand = {
  name: "purchases",
  summary: "list purchases (by machine, state, date, flagged) or show one purchase's timeline",
  usage:
    "purchases list [--machine M] [--state S] [--from DATE] [--to DATE] [--flagged] [--limit N] [--json] " +
    "| purchases show <sessionId|invoiceReference> [--json]   (all take --config FILE)",
  run: async ({ argv, out, env }) => {
    const { values, positionals } = parseCommandArgs(argv, {
      machine: { type: "string" },
      state: { type: "string" },
      from: { type: "string" },
      to: { type: "string" },
      flagged: { type: "boolean" },
      limit: { type: "string" },
    });
    const [action, key, extra] = positionals;
    if (action === undefined) throw new UsageError("missing subcommand: list or show");
    if (action !== "list" && action !== "show") throw new UsageError(`unknown subcommand '${action}' (list or show)`);
    if (extra !== undefined || (action === "list" && key !== undefined)) {
      throw new UsageError(`unexpected argument '${extra ?? key}'`);
    }
    if (action === "show") {
      if (key === undefined) throw new UsageError("show needs the purchase's session id or invoice reference");
      const listOnly = ["machine", "state", "from", "to", "flagged", "limit"].filter((name) => name in values);
      if (listOnly.length > 0) throw new UsageError(`show takes no --${listOnly.join(", --")}`);
      return withOperatorStore({ out, env }, values, async (store) => {
        const found = await purchaseTimeline(store, key);
        if (!found) {
          out.error(`no purchase with session id or invoice reference '${key}'`);
          return ExitCode.failure;
        }
        if (values.json) out.json(found);
        else printTimeline(out, found);
        return ExitCode.ok;
      });
    }
    const query: PurchaseQuery = {};
    if (values.machine !== undefined) query.machineId = machineArgument(values.machine);
    if (values.state !== undefined) query.states = [stateArgument(values.state)];
    if (values.flagged) query.flagged = true;
    if (values.limit !== undefined) query.limit = limitArgument(values.limit);
    try {
      Object.assign(query, parsePeriod({ from: values.from, to: values.to }));
    } catch (error) {
      if (error instanceof PeriodError) throw new UsageError(error.message);
      throw error;
    }
    return withOperatorStore({ out, env }, values, async (store) => {
      const purchases = await listPurchases(store, query);
      if (values.json) out.json(purchases);
      else if (purchases.length === 0) out.line("no purchases");
      else for (const purchase of purchases) out.line(purchaseLine(out, purchase));
      return ExitCode.ok;
    });
  },
};

function purchaseLine(out: CliContext["out"], purchase: PurchaseView): string {
  const flags = purchase.flags.length > 0 ? out.bad(`  flagged: ${purchase.flags.join(", ")}`) : "";
  return [
    instant(purchase.createdAt),
    purchase.sessionId,
    purchase.machineId.padEnd(12),
    purchase.state.padEnd(10),
    `reserved ${money(purchase.reservedMinor, purchase.currency)}`,
    `billed ${money(purchase.committedMinor ?? purchase.billedMinor, purchase.currency)}`,
  ]
    .join("  ")
    .concat(flags);
}

function printTimeline(out: CliContext["out"], { purchase, timeline, outbox }: PurchaseTimeline): void {
  out.line(`purchase ${purchase.sessionId} on ${purchase.machineId}: ${purchase.state}`);
  out.line(`  invoice ${purchase.invoiceReference ?? "-"}  payment ${purchase.ersReference ?? "-"}`);
  out.line(
    `  reserved ${money(purchase.reservedMinor, purchase.currency)}  billed ${money(purchase.billedMinor, purchase.currency)}  committed ${money(purchase.committedMinor, purchase.currency)}`,
  );
  if (purchase.flags.length > 0) out.line(out.bad(`  flagged: ${purchase.flags.join(", ")}`));
  out.line("timeline:");
  for (const entry of timeline) out.line(`  ${instant(entry.at)}  ${timelineText(entry, purchase.currency)}`);
  if (outbox.length > 0) out.line("SEQR calls (outbox):");
  for (const item of outbox) {
    const error = item.lastError ? `  last error: ${item.lastError}` : "";
    out.line(
      `  ${item.kind.padEnd(17)} ${item.status.padEnd(7)} attempts ${item.attempts}  deadline ${instant(item.deadlineAt)}${item.outcomeUnknown ? "  outcome unknown" : ""}${error}`,
    );
  }
}

function timelineText(entry: TimelineEntry, currency: string): string {
  if (entry.kind === "vend") {
    const reported =
      entry.reportedPriceMinor !== null ? ` (machine reported ${money(entry.reportedPriceMinor, currency)})` : "";
    return `vend ${entry.vendId} ${entry.selection} ${entry.name ?? ""} ${entry.outcome} ${money(entry.priceMinor, currency)}${reported}`;
  }
  const move = entry.fromState !== entry.toState ? ` ${entry.fromState ?? "-"} -> ${entry.toState ?? "-"}` : "";
  const detail = entry.detail ? ` ${JSON.stringify(entry.detail)}` : "";
  return `${entry.reason}${move}${detail}`;
}
