import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Journal } from "../../agent/journal/journal.ts";
import { frameRecord } from "../../agent/journal/record-file.ts";
import { systemClock } from "../../platform/clock.ts";
import { silentLogger } from "../../platform/logger.ts";
import { capturedLogs } from "../helpers/captured-logs.ts";
import { FakeMechanism } from "./helpers/fake-mechanism.ts";
import { errnoError, type FileOperation, PowerLossFiles } from "./helpers/power-loss-files.ts";
import { envelope, openSessionHarness, until } from "./helpers/session-harness.ts";

/**
 * The disk fails under the journal (EIO, ENOSPC, injected by the file layer). A record whose write or sync failed may
 * or may not be on disk, and after a failed fsync the kernel's page state cannot be trusted: the journal refuses every
 * later change until the agent restarts (fail closed), so the agent stops approving vends, says why in its log, and
 * does not crash. A journal set aside as corrupt keeps the damaged bytes for a technician.
 */

const dataDir = "/var/lib/vend-agent";
const journalPath = join(dataDir, "journal.log");
const pong = (commandId: string) => ({ name: "pong" as const, body: { sessionId: null, commandId } });

/** Fails the n-th call of `operation` on journal.log (counted from arming) with `code`. */
function failNth(files: PowerLossFiles, operation: FileOperation, code: "EIO" | "ENOSPC", nth = 1, path = journalPath) {
  let seen = 0;
  files.fault = (op, target) => {
    if (op !== operation || target !== path) return undefined;
    seen += 1;
    return seen === nth ? errnoError(code, op, target) : undefined;
  };
}

const open = (files: PowerLossFiles, compactAfterBytes?: number) =>
  Journal.open({
    dataDir,
    logger: silentLogger(),
    clock: systemClock,
    files,
    ...(compactAfterBytes ? { compactAfterBytes } : {}),
  });

describe("journal write errors", () => {
  it("says so in the log, fatal, with the error, the write point and the file", async () => {
    const { logger, lines } = capturedLogs();
    const files = new PowerLossFiles({ dirs: ["/var/lib"] });
    const journal = await Journal.open({ dataDir, logger, clock: systemClock, files });
    failNth(files, "datasync", "EIO");
    await expect(journal.commit("vend-approved", { t: "note" }, { events: [pong("x")] })).rejects.toMatchObject({
      code: "EIO",
    });
    await new Promise((resolve) => setImmediate(resolve));
    const fatal = lines.filter((line) => line.level === "fatal");
    expect(fatal).toHaveLength(1);
    expect(fatal[0]).toMatchObject({
      module: "journal",
      point: "vend-approved",
      path: journalPath,
      msg: "journal write failed: no more changes are accepted, the machine stops selling until a restart",
    });
    expect(JSON.stringify(fatal[0]?.err)).toContain("EIO");
  });

  it("numbers several events of one change one after another", async () => {
    const files = new PowerLossFiles({ dirs: ["/var/lib"] });
    const journal = await open(files);
    const [first] = await journal.commit("event", { t: "note" }, { events: [pong("a")] });
    const both = await journal.commit("event", { t: "note" }, { events: [pong("b"), pong("c")] });
    const seq = first?.payload.seq ?? 0;
    expect(both.map((event) => event.payload.seq)).toEqual([seq + 1, seq + 2]);
  });

  for (const [operation, code] of [
    ["datasync", "EIO"],
    ["write", "ENOSPC"],
  ] as const) {
    it(`${code} on ${operation}: that commit fails, every later one is refused, nothing more is written`, async () => {
      const files = new PowerLossFiles({ dirs: ["/var/lib"] });
      const journal = await open(files);
      await journal.commit("event", { t: "note" }, { events: [pong("before")] });
      const stateBefore = JSON.stringify([...journal.state.outbox.keys()]);
      failNth(files, operation, code);
      await expect(journal.commit("event", { t: "note" }, { events: [pong("failing")] })).rejects.toMatchObject({
        code,
      });
      const written = files.content(journalPath)?.length;
      files.fault = undefined; // the disk "works" again: the journal must still not trust it
      await expect(journal.commit("event", { t: "note" }, { events: [pong("after")] })).rejects.toThrow(
        /journal could not write.*restart/,
      );
      expect(journal.failure?.message).toMatch(new RegExp(code));
      expect(files.content(journalPath)?.length).toBe(written);
      expect(JSON.stringify([...journal.state.outbox.keys()])).toBe(stateBefore);
      await journal.close();

      // After the restart (a power cut, even): what was durable before the failure is all there.
      const again = await open(files.cutPower());
      expect(JSON.stringify([...again.state.outbox.keys()])).toBe(stateBefore);
      await again.commit("event", { t: "note" }, { events: [pong("restarted")] });
      await again.close();
    });
  }

  it("ENOSPC while compacting: the commit that triggered it stands (its record is synced), later ones are refused", async () => {
    const files = new PowerLossFiles({ dirs: ["/var/lib"] });
    const journal = await open(files, 1_024);
    failNth(files, "writeSynced", "ENOSPC", 1, `${journalPath}.tmp`);
    let committed = 0;
    let refused: unknown;
    for (let index = 0; index < 20 && refused === undefined; index += 1) {
      try {
        await journal.commit("event", { t: "note" }, { events: [pong(`p${index}`)] });
        committed += 1;
      } catch (error) {
        refused = error;
      }
    }
    expect(refused).toBeInstanceOf(Error);
    expect(String(refused)).toMatch(/journal could not write.*ENOSPC/);
    expect(journal.state.eventSeq).toBe(committed);
    await journal.close();
    const again = await open(files.cutPower());
    expect(again.state.eventSeq).toBe(committed);
    await again.close();
  });

  it("the agent stops approving: a selection after a failed write is denied, the motor never turns, no crash", async () => {
    const files = new PowerLossFiles({ dirs: ["/var/lib"] });
    const mechanism = new FakeMechanism();
    const h = await openSessionHarness({ dir: dataDir, files, mechanism, mode: "multi-vend" });
    const seen = envelope();
    await h.session.unlock(
      { ...seen, sessionId: "s-disk", budgetMinor: 1_000, currency: "EUR", signature: "0".repeat(64) },
      seen,
    );
    failNth(files, "datasync", "EIO");
    mechanism.select({ selection: "A1" });
    await until(() => mechanism.denials.length === 1, 10_000, "the first denial");
    files.fault = undefined;
    mechanism.select({ selection: "B1" });
    await until(() => mechanism.denials.length === 2, 10_000, "the second denial");
    // The machine is answered, not left waiting: the reason names no internal detail.
    expect(mechanism.denials.map((denial) => denial.reason)).toEqual(["internal error", "internal error"]);
    expect(mechanism.vends).toEqual([]);
    expect(h.named("vend-started")).toEqual([]);
    expect(h.journal.failure).toBeInstanceOf(Error);
  });
});

describe("a corrupt journal", () => {
  it("is set aside byte for byte (durably) and the agent goes on with the records before the damage", async () => {
    const files = new PowerLossFiles({ dirs: ["/var/lib"] });
    const journal = await open(files);
    await journal.commit("event", { t: "note" }, { events: [pong("good")] });
    await journal.close();
    const good = files.content(journalPath) ?? Buffer.alloc(0);
    const damaged = Buffer.concat([
      good,
      Buffer.from('deadbeef {"c":{"t":"note"}}\n'),
      frameRecord({ c: { t: "note" } }),
    ]);
    files.writeSynced(journalPath, damaged, 0o600);
    files.fsyncDirectory(dataDir);

    const recovered = await open(files);
    expect(recovered.state.eventSeq).toBe(1);
    await recovered.close();
    const disk = files.cutPower();
    const kept = disk.list(dataDir).filter((name) => name.startsWith("journal.log.corrupt-"));
    expect(kept).toHaveLength(1);
    expect(disk.content(join(dataDir, kept[0] ?? ""))?.equals(damaged)).toBe(true);
    const again = await open(disk);
    expect(again.state.eventSeq).toBe(1);
    expect([...again.state.outbox.values()].map((event) => event.payload)).toEqual([
      expect.objectContaining({ commandId: "good" }),
    ]);
    await again.close();
  });
});
