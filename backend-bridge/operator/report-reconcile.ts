import { UsageError } from "../../platform/cli.ts";
import { systemClock } from "../../platform/clock.ts";
import { ExitCode } from "../../platform/exit-codes.ts";
import { formatMinor } from "../../platform/money.ts";
import type { Difference } from "./ledger-differences.ts";
import { withOperatorSession } from "./operator-session.ts";
import { closeSeqrPeriod, type PeriodCloseResult } from "./period-close.ts";
import { periodCloseSettings } from "./period-close-settings.ts";
import type { ReportSubcommand } from "./report-command.ts";

/**
 * `vend-bridge report reconcile [--json]`: closes SEQR's transaction period now (period-close.ts) and prints every
 * difference between SEQR's report and the bridge's ledger; each is also recorded as a reconciliation item. Exit 0
 * when the books agree, 1 when there are differences or the close failed.
 */
export const reportReconcile: ReportSubcommand = {
  usage: "reconcile [--json]",
  options: {},
  run: async ({ out, env }, values, positionals) => {
    if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
    return withOperatorSession(
      { out, env },
      { config: values.config as string | undefined, secretsDir: values["secrets-dir"] as string | undefined },
      async (session) => {
        if (!session.config.seqr.resellerUser) {
          out.error(
            "vend-bridge report reconcile: the period close needs SEQR's RESELLERUSER principal; give seqr.resellerUser",
          );
          return ExitCode.config;
        }
        const result = await closeSeqrPeriod({
          store: session.store,
          seqr: session.seqr,
          clock: systemClock,
          settings: periodCloseSettings(session.config),
        });
        if (values.json) out.json(result);
        else for (const line of describeClose(result)) out.line(line);
        return result.status === "closed" && result.differences.length === 0 ? ExitCode.ok : ExitCode.failure;
      },
    );
  },
};

function describeClose(result: PeriodCloseResult): string[] {
  if (result.status === "failed") {
    return [`period close failed (period ${result.transactionPeriodId ?? "not closed"}): ${result.error}`];
  }
  const head = `period ${result.transactionPeriodId} closed: SEQR reported ${result.payments} payments and ${result.refunds} refunds`;
  if (result.differences.length === 0) return [`${head}; the ledger agrees`];
  return [`${head}; ${result.differences.length} differences:`, ...result.differences.map(describeDifference)];
}

function describeDifference(difference: Difference): string {
  const where = difference.sessionId ? `purchase ${difference.sessionId}` : "no purchase";
  const amount = (side: unknown) => {
    const money = side as { amountMinor?: number | null; currency?: string } | undefined;
    return money?.amountMinor != null && money.currency
      ? `${formatMinor(money.amountMinor, money.currency)} ${money.currency}`
      : "-";
  };
  return `  ${difference.kind} ${difference.ersReference} (${where}): SEQR ${amount(difference.detail.seqr)}, ours ${amount(difference.detail.ours)}`;
}
