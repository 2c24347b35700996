import { join } from "node:path";
import { type CliCommand, parseCommandArgs } from "../../platform/cli.ts";
import { ExitCode } from "../../platform/exit-codes.ts";
import { loadAgentConfig } from "../cli/agent-config.ts";
import { applyRecord, emptyState, type JournalRecord, vendsInFlight } from "./journal-state.ts";
import { readRecordFile } from "./record-file.ts";

/**
 * `vend-agent journal`: what the agent's journal holds, read-only (safe while the daemon runs): boot counter, open
 * session, vends still in flight, unacknowledged events, damage found at the end of the file.
 */
export const journalCommand: CliCommand = {
  name: "journal",
  summary: "show the durable journal: session, vends in flight, unacknowledged events",
  usage: "journal [--config FILE] [--json]",
  run: ({ argv, out, env }) => {
    const { values } = parseCommandArgs(argv, {});
    const loaded = loadAgentConfig(values, env, out);
    if (!loaded.ok) return loaded.exitCode;
    const path = join(loaded.config.dataDir, "journal.log");
    let read: ReturnType<typeof readRecordFile>;
    try {
      read = readRecordFile(path);
    } catch (error) {
      out.error(`cannot read ${path}: ${(error as Error).message}`);
      return ExitCode.failure;
    }
    let state = emptyState();
    for (const record of read.records) state = applyRecord(state, record as JournalRecord);
    const summary = {
      path,
      records: read.records.length,
      damage: read.damage ?? null,
      bootSeq: state.bootSeq,
      eventSeq: state.eventSeq,
      pendingPayment: state.pending,
      session: state.session,
      vendsInFlight: vendsInFlight(state),
      unacknowledgedEvents: [...state.outbox.values()].map((event) => ({
        name: event.name,
        eventId: event.payload.eventId,
        seq: event.payload.seq,
        ts: new Date(event.payload.ts).toISOString(),
      })),
      rememberedCommandIds: state.seenCommands.size,
    };
    if (values.json) {
      out.json(summary);
      return ExitCode.ok;
    }
    out.line(
      `journal ${path}: ${summary.records} records, boot #${summary.bootSeq}, last event seq ${summary.eventSeq}`,
    );
    if (summary.damage)
      out.line(out.bad(`damage at byte ${summary.damage.offset}: ${summary.damage.kind}, ${summary.damage.detail}`));
    out.line(
      `session: ${state.session ? `${state.session.sessionId} budget ${state.session.budgetMinor} spent ${state.session.spentMinor} ${state.session.currency}` : "none"}`,
    );
    if (state.pending)
      out.line(`payment pending: ${state.pending.sessionId} (${state.pending.amountMinor} ${state.pending.currency})`);
    for (const vend of summary.vendsInFlight) {
      out.line(
        out.bad(
          `vend in flight: ${vend.vendId} ${vend.selection} ${vend.priceMinor} (becomes unknown at the next start)`,
        ),
      );
    }
    out.line(`unacknowledged events: ${summary.unacknowledgedEvents.length}`);
    for (const event of summary.unacknowledgedEvents.slice(0, 20)) {
      out.line(out.dim(`  #${event.seq} ${event.name} ${event.eventId} ${event.ts}`));
    }
    return ExitCode.ok;
  },
};
