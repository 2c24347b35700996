import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { applyRecord, emptyState, type JournalRecord, vendsInFlight } from "../../agent/journal/journal-state.ts";
import { readRecordFile } from "../../agent/journal/record-file.ts";
import { FakeMechanism } from "./helpers/fake-mechanism.ts";
import { PowerLossFiles } from "./helpers/power-loss-files.ts";
import { envelope, openSessionHarness, until } from "./helpers/session-harness.ts";

/**
 * Money rule 4 at the motor: the `vend-approved` record is synced before the motor turns, so a power cut while it
 * turns leaves the vend in flight on disk (it becomes `unknown` at the next start, never vended again, never billed
 * automatically). The fake mechanism looks at the journal's synced bytes (what a power cut would leave) the moment
 * vend() is called.
 */

const dir = "/var/lib/vend-agent";
const journalPath = join(dir, "journal.log");

/** The journal as a power cut right now would leave it. */
function durableState(files: PowerLossFiles) {
  const read = readRecordFile(journalPath, files.durableImage());
  let state = emptyState();
  for (const record of read.records) state = applyRecord(state, record as JournalRecord);
  return state;
}

function unlock(sessionId: string, budgetMinor: number) {
  const seen = envelope();
  return {
    payload: {
      ...seen,
      sessionId,
      budgetMinor,
      currency: "EUR",
      signature: "0".repeat(64),
      mode: "multi-vend" as const,
    },
    seen,
  };
}

describe("the motor and the journal", () => {
  it("vend() is called only once its vend-approved record is synced to disk", async () => {
    const files = new PowerLossFiles({ dirs: ["/var/lib"] });
    const atMotor: { selection: string; durableInFlight: unknown[] }[] = [];
    const mechanism = new FakeMechanism({
      beforeMotor: (selection) => {
        atMotor.push({ selection, durableInFlight: vendsInFlight(durableState(files)) });
      },
    });
    const h = await openSessionHarness({ dir, files, mechanism, mode: "multi-vend" });
    const { payload, seen } = unlock("s-motor", 1_000);
    await h.session.unlock(payload, seen);
    h.mechanism.select({ selection: "A1" });
    await until(() => h.named("vended").length === 1, 20_000, "the first vend");
    h.mechanism.select({ selection: "B1" });
    await until(() => h.named("vended").length === 2, 20_000, "the second vend");
    expect(atMotor).toEqual([
      {
        selection: "A1",
        durableInFlight: [expect.objectContaining({ selection: "A1", priceMinor: 150, state: "in-flight" })],
      },
      {
        selection: "B1",
        durableInFlight: [expect.objectContaining({ selection: "B1", priceMinor: 120, state: "in-flight" })],
      },
    ]);
    await h.close();
  });

  it("a power cut while the motor turns: after the restart the vend is unknown, reported once, never vended", async () => {
    const files = new PowerLossFiles({ dirs: ["/var/lib"] });
    const mechanism = new FakeMechanism({
      beforeMotor: () => {
        files.cutPower();
      },
    });
    const h = await openSessionHarness({ dir, files, mechanism, mode: "multi-vend" });
    const { payload, seen } = unlock("s-cut", 1_000);
    await h.session.unlock(payload, seen);
    h.mechanism.select({ selection: "A2" });
    await files.cutHappened;
    const disk = files.afterCut;
    if (!disk) throw new Error("no power cut");

    const restarted = await openSessionHarness({ dir, files: disk, mode: "multi-vend" });
    const inFlight = vendsInFlight(restarted.journal.state);
    expect(inFlight).toEqual([expect.objectContaining({ selection: "A2", state: "in-flight" })]);
    await restarted.session.recover();
    const unknown = restarted.named("vend-unknown");
    expect(unknown.map((event) => event.payload)).toEqual([
      expect.objectContaining({ vendId: inFlight[0]?.vendId, selection: "A2", evidence: "restart" }),
    ]);
    expect(restarted.named("vended")).toEqual([]);
    expect(restarted.journal.state.vends.get(inFlight[0]?.vendId ?? "")).toBeUndefined(); // session ended: fault
    expect(restarted.named("session-ended").map((event) => event.payload)).toEqual([
      expect.objectContaining({ sessionId: "s-cut", reason: "fault", vendedCount: 0, unknownCount: 1 }),
    ]);
    expect(restarted.mechanism.vends).toEqual([]);
    await restarted.close();
  });
});
