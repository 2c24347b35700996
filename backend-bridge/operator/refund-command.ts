import { type CliCommand, parseCommandArgs, UsageError } from "../../platform/cli.ts";
import { systemClock } from "../../platform/clock.ts";
import { ExitCode } from "../../platform/exit-codes.ts";
import { formatMinor } from "../../platform/money.ts";
import { withOperatorSession } from "./operator-session.ts";
import { isRefundId, type RefundOutcome, refundPurchase } from "./refund.ts";
import { parseRefundAmount } from "./refund-amount.ts";

/**
 * `vend-bridge refund <purchase> [--amount 1.50] [--refund-id ID] [--actor NAME] [--note TEXT] [--json]`: gives a
 * customer money back for a committed purchase through SEQR (operator/refund.ts). A script that may retry passes
 * --refund-id: the same id is never sent twice. Exit 0 when the money is refunded (now or by an earlier request with
 * the id), 1 when it is refused, failed or unknown.
 */
export const refundCommand: CliCommand = {
  name: "refund",
  summary: "refund a committed purchase fully or partly through SEQR (refundPayment), recorded with who asked",
  usage:
    "refund <purchase-session-id> [--amount DECIMAL] [--refund-id ID] [--actor NAME] [--note TEXT] [--json] [--config FILE]",
  run: async ({ argv, out, env }) => {
    const { values, positionals } = parseCommandArgs(argv, {
      amount: { type: "string" },
      "refund-id": { type: "string" },
      actor: { type: "string" },
      note: { type: "string" },
    });
    const [sessionId, extra] = positionals;
    if (sessionId === undefined) throw new UsageError("missing the purchase (its session id)");
    if (extra !== undefined) throw new UsageError(`unexpected argument '${extra}'`);
    const refundId = values["refund-id"];
    if (refundId !== undefined && !isRefundId(refundId)) {
      throw new UsageError(`--refund-id '${refundId}' is not 1-40 characters of A-Z a-z 0-9 . _ -`);
    }
    const actor = values.actor ?? env.SUDO_USER ?? env.USER ?? "cli";
    return withOperatorSession(
      { out, env },
      { config: values.config, secretsDir: values["secrets-dir"] },
      async (session) => {
        const purchase = await session.store.getPurchase(sessionId);
        let amountMinor: number | undefined;
        if (values.amount !== undefined && purchase) {
          const amount = parseRefundAmount(values.amount, purchase.currency);
          if (!amount.ok) throw new UsageError(`--amount ${values.amount}: ${amount.reason}`);
          amountMinor = amount.amountMinor;
        }
        const result = await refundPurchase(
          { store: session.store, seqr: session.seqr, clock: systemClock },
          {
            sessionId,
            actor,
            ...(refundId ? { refundId } : {}),
            ...(amountMinor !== undefined ? { amountMinor } : {}),
            ...(values.note ? { note: values.note } : {}),
          },
        );
        if (values.json) out.json(result);
        else out.line(describeOutcome(result, purchase?.currency ?? ""));
        return result.outcome === "refunded" ? ExitCode.ok : ExitCode.failure;
      },
    );
  },
};

function describeOutcome(result: RefundOutcome, currency: string): string {
  switch (result.outcome) {
    case "not-found":
      return `no purchase ${result.sessionId} in the store`;
    case "refused":
      return `not refunded: ${result.reason} (refundable ${formatMinor(result.refundableMinor, currency)} ${currency})`;
    default: {
      const { refund } = result;
      const amount = `${formatMinor(refund.amountMinor, refund.currency)} ${refund.currency}`;
      const again = result.repeated
        ? " (answered from the store: this refund id was requested before, nothing sent)"
        : "";
      const reference = refund.ersReference ? `, SEQR reference ${refund.ersReference}` : "";
      return `${result.outcome}: ${amount} of purchase ${refund.sessionId}, refund ${refund.refundId}${reference}: ${result.explanation}${again}`;
    }
  }
}
