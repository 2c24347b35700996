import { describe, expect, it } from "vitest";
import { Journal, type WritePoint, writePoints } from "../../agent/journal/journal.ts";
import { emptyState, type OpenSession, serializeState, type VendRecord } from "../../agent/journal/journal-state.ts";
import { systemClock } from "../../platform/clock.ts";
import { silentLogger } from "../../platform/logger.ts";
import { openSession } from "./helpers/open-session.ts";
import { PowerLossFiles } from "./helpers/power-loss-files.ts";

/**
 * Power loss, not only process death: the journal runs on a file layer that keeps only what was synced when the power
 * goes (test/agent/helpers/power-loss-files.ts). A scripted run that passes every write point (compaction mid-session
 * included, with a small threshold) is cut before each of its file operations in turn, with and without a torn piece
 * of unsynced data on disk; the reopened journal must hold exactly the state of the last write it reported durable
 * (nothing acted on is lost, no half record is applied), and must go on writing durably after the recovery.
 */

const dataDir = "/var/lib/vend-agent";
const now = 1_800_000_000_000;
const clock = { ...systemClock, now: () => now };
const compactAfterBytes = 1_500;

const session = (sessionId: string): OpenSession => openSession(sessionId, { openedAt: now });

const vend = (vendId: string, selection: string, priceMinor: number): VendRecord => ({
  vendId,
  sessionId: "s1",
  selection,
  sku: selection,
  name: selection,
  priceMinor,
  currency: "EUR",
  state: "in-flight",
  approvedAt: now,
});

/** One boot and a multi-vend purchase, as the agent writes them: every write point of the journal. */
async function purchase(journal: Journal): Promise<void> {
  let pongs = 0;
  const pong = () => [{ name: "pong" as const, body: { sessionId: null, commandId: `ping-${++pongs}` } }];
  await journal.commit("boot", {
    t: "boot",
    bootSeq: journal.state.bootSeq + 1,
    bootId: `boot-${journal.state.bootSeq}`,
  });
  const [ping] = await journal.commit(
    "event",
    { t: "note" },
    { events: pong(), seen: { commandId: "ping-cmd", expiresAt: now + 60_000 } },
  );
  await journal.commit("ack", { t: "ack", eventIds: [ping?.payload.eventId ?? ""] });
  const pending = (sessionId: string) => ({ sessionId, amountMinor: 1_000, currency: "EUR", since: now });
  await journal.commit("payment-pending", { t: "payment-pending", pending: pending("abandoned") });
  await journal.commit("payment-cleared", { t: "payment-cleared", sessionId: "abandoned" }, { events: pong() });
  await journal.commit("payment-pending", { t: "payment-pending", pending: pending("s1") });
  await journal.commit(
    "unlock",
    { t: "session-open", session: session("s1") },
    { events: pong(), seen: { commandId: "cmd-s1", expiresAt: now + 60_000 } },
  );
  for (const [vendId, selection, priceMinor] of [
    ["v1", "A1", 150],
    ["v2", "B1", 120],
  ] as const) {
    await journal.commit(
      "vend-approved",
      { t: "vend-approved", vend: vend(vendId, selection, priceMinor) },
      { events: pong() },
    );
    await journal.commit("vend-result", { t: "vend-result", vendId, result: "delivered" }, { events: pong() });
  }
  await journal.commit("session-ended", { t: "session-end", sessionId: "s1" }, { events: pong() });
  await journal.commit("ack", { t: "ack", eventIds: [...journal.state.outbox.keys()].slice(0, 3) });
}

const stateText = (state: Journal["state"]) => JSON.stringify(serializeState(state as ReturnType<typeof emptyState>));

interface Run {
  files: PowerLossFiles;
  /** The state after each write the journal reported durable (hooks run after the record is synced). */
  durableStates: string[];
  points: { point: WritePoint; operations: number }[];
}

/** Runs the purchase on `files` until it ends or the power is cut. */
async function runUntilCut(files: PowerLossFiles): Promise<Run> {
  const run: Run = { files, durableStates: [stateText(emptyState())], points: [] };
  let journal: Journal | undefined;
  const work = (async () => {
    journal = await Journal.open({
      dataDir,
      logger: silentLogger(),
      clock,
      files,
      compactAfterBytes,
      hooks: {
        afterWrite: (point) => {
          run.points.push({ point, operations: files.operations });
          // At open, compaction rewrites the recovered state unchanged; the journal object exists after it.
          if (journal) run.durableStates.push(stateText(journal.state));
        },
      },
    });
    await purchase(journal);
  })();
  await Promise.race([
    work.catch((error: unknown) => {
      if (!files.dead) throw error;
    }),
    files.cutHappened,
  ]);
  return run;
}

// A dry run without a cut: how many file operations the purchase makes, and which write point each one follows.
const dry = await runUntilCut(new PowerLossFiles({ dirs: ["/var/lib"] }));
const totalOperations = dry.files.operations;
const phaseOf = (operation: number): string => {
  const before = dry.points.filter((entry) => entry.operations < operation);
  return before.at(-1)?.point ?? "open (before any write point)";
};
const phases = [...new Set(Array.from({ length: totalOperations + 1 }, (_, index) => phaseOf(index + 1)))];

describe("journal under power loss", () => {
  it("the scripted purchase passes every write point, compaction and boot included mid-session", () => {
    const reached = new Set(dry.points.map((entry) => entry.point));
    expect([...reached].sort()).toEqual([...writePoints].sort());
    const order = dry.points.map((entry) => entry.point);
    // Compaction after the session opened, not only on the empty journal at open.
    expect(order.indexOf("compact", order.indexOf("unlock"))).toBeGreaterThan(-1);
    expect(order.indexOf("compact-temp", order.indexOf("unlock"))).toBeGreaterThan(-1);
  });

  it.each(phases)(
    "a power cut at every file operation after %s: recovery holds exactly what was durable",
    async (phase) => {
      const operations = Array.from({ length: totalOperations + 1 }, (_, index) => index + 1).filter(
        (operation) => phaseOf(operation) === phase,
      );
      expect(operations.length).toBeGreaterThan(0);
      for (const cutBefore of operations) {
        for (const tornBytes of [0, 13]) {
          const files = new PowerLossFiles({ dirs: ["/var/lib"] });
          files.cutPowerBefore(cutBefore, tornBytes);
          const run = await runUntilCut(files);
          const disk = files.afterCut ?? files.cutPower(tornBytes);
          const where = `power cut before file operation ${cutBefore} (torn ${tornBytes}); last operations:\n${files.trace.slice(-4).join("\n")}`;

          const recovered = await Journal.open({
            dataDir,
            logger: silentLogger(),
            clock,
            files: disk,
            compactAfterBytes,
          });
          expect(stateText(recovered.state), where).toBe(run.durableStates.at(-1));

          // The recovered journal writes durably again: a record committed now survives the next power cut.
          const [event] = await recovered.commit(
            "event",
            { t: "note" },
            { events: [{ name: "pong", body: { sessionId: null, commandId: "after" } }] },
          );
          const expected = stateText(recovered.state);
          const again = await Journal.open({
            dataDir,
            logger: silentLogger(),
            clock,
            files: disk.cutPower(tornBytes),
            compactAfterBytes,
          });
          expect(stateText(again.state), `${where}\nthen a commit after recovery`).toBe(expected);
          expect(again.state.outbox.has(event?.payload.eventId ?? "")).toBe(true);
          await again.close();
        }
      }
    },
  );
});
