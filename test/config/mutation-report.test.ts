import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  compactRun,
  diffLineMap,
  generateMutationReport,
  latestPerModule,
  loadRuns,
  mutatedByArgs,
  mutationReportPath,
  rangesByArgs,
  renderReport,
  serializeRun,
  sourceHash,
} from "../../scripts/mutation.ts";

const header = {
  durationMs: 61_000,
  mutationTests: "test/a.test.ts",
  loadBefore: [1, 2, 3],
  loadAfter: [4, 5, 6],
  exitCode: 0,
};
// What Stryker's JSON report holds: whole sources, and with --mutate also other modules from its incremental file.
const strykerReport = {
  files: {
    "a/one.ts": {
      source: "const x = 1;\nif (x > 0) run();\n",
      mutants: [
        {
          id: "1",
          mutatorName: "EqualityOperator",
          replacement: "x >= 0",
          status: "Survived",
          location: { start: { line: 2, column: 5 } },
        },
        { id: "2", mutatorName: "BlockStatement", status: "Killed", location: { start: { line: 2, column: 12 } } },
      ],
    },
    "a/other.ts": {
      source: "x\n",
      mutants: [{ id: "3", mutatorName: "X", status: "Survived", location: { start: { line: 1, column: 1 } } }],
    },
  },
};

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe("scripts/mutation.ts stored runs (docs/mutation-runs/)", () => {
  it("keep per mutant id, mutator, replacement, status, location and, for the printed ones, the source line; only the modules asked for", () => {
    const run = compactRun(
      { ...header, startedAt: "2026-12-02T15:00:00.000Z", args: ["--mutate", "a/one.ts"] },
      strykerReport,
    );
    expect(run.files).toEqual({
      "a/one.ts": [
        {
          id: "1",
          mutator: "EqualityOperator",
          replacement: "x >= 0",
          status: "Survived",
          line: 2,
          column: 5,
          code: "if (x > 0) run();",
        },
        { id: "2", mutator: "BlockStatement", status: "Killed", line: 2, column: 12 },
      ],
    });
    expect(JSON.stringify(run)).not.toContain("const x = 1;");
  });

  it("read back as written, and the newest run of a module gives its row", () => {
    dir = mkdtempSync(join(tmpdir(), "mutation-runs-"));
    const older = compactRun(
      { ...header, startedAt: "2026-12-02T15:00:00.000Z", args: ["--mutate", "a/one.ts"] },
      strykerReport,
    );
    const killedAll = structuredClone(strykerReport);
    for (const mutant of killedAll.files["a/one.ts"].mutants) mutant.status = "Killed";
    const newer = compactRun(
      { ...header, startedAt: "2026-12-02T16:00:00.000Z", args: ["--mutate", "a/one.ts"] },
      killedAll,
    );
    // File names sort by time; written out of order on purpose.
    writeFileSync(join(dir, "2026-12-02T16-00-00.000Z.json"), serializeRun(newer));
    writeFileSync(join(dir, "2026-12-02T15-00-00.000Z.json"), serializeRun(older));
    const runs = loadRuns(dir);
    expect(runs).toEqual([older, newer]);
    const report = renderReport(latestPerModule(runs), ["a/one.ts", "a/two.ts"]);
    expect(report).toContain(
      "| a/one.ts | 2 | 2 | 0 | 0 | 0 | 0 | 0 | 0 | 100.0 % | **100.0 %** | 2026-12-02 16:00, source not recorded |",
    );
    expect(report).toContain("no run has mutated them): a/two.ts.");
    const olderReport = renderReport(latestPerModule([older]), ["a/one.ts"]);
    expect(olderReport).toContain("| a/one.ts:2:5 | EqualityOperator `x >= 0` in `if (x > 0) run();` |");
    expect(olderReport).toContain("Below 90 %: a/one.ts (50.0 %).");
  });

  it("keep a module measured before runs were stored, marked, until a stored run replaces it", () => {
    const earlier = {
      note: "lost.",
      modules: [
        {
          file: "a/one.ts",
          cells: ["9", "1", "8", "0", "0", "0", "0", "0", "11.1 %", "**11.1 %**", "2026-12-01 10:00"],
          scoreWithoutEquivalents: 11.1,
          equivalents: [],
          survivors: [["a/one.ts:1:1", "X `y` in `x`"]],
        },
      ],
      runs: [["2026-12-01 10:00:00", "1 min 0 s", "`npm run mutation`", "-", "1 / 1"]],
    };
    const carried = renderReport([], ["a/one.ts"], earlier);
    expect(carried).toContain(
      "| a/one.ts | 9 | 1 | 8 | 0 | 0 | 0 | 0 | 0 | 11.1 % | **11.1 %** | 2026-12-01 10:00 (earlier",
    );
    expect(carried).toContain("| a/one.ts:1:1 | X `y` in `x` |");
    expect(carried).toContain("| 2026-12-01 10:00:00 (earlier run, mutant list not stored) | 1 min 0 s |");
    expect(carried).toContain("Below 90 %: a/one.ts (11.1 %, earlier run).");
    const run = compactRun({ ...header, startedAt: "2026-12-02T15:00:00.000Z", args: [] }, strykerReport);
    const replaced = renderReport(latestPerModule([run]), ["a/one.ts"], earlier);
    expect(replaced).not.toContain("earlier run");
    expect(replaced).toContain("| a/one.ts | 2 | 1 | 1 |");
  });
});

describe("scripts/mutation.ts and a module changed after its run", () => {
  it("records each mutated module's source hash with the run, and marks a row whose module changed since", () => {
    const sources = { "a/one.ts": sourceHash("const x = 1;\nif (x > 0) run();\n") };
    const run = compactRun(
      { ...header, startedAt: "2026-12-02T15:00:00.000Z", args: ["--mutate", "a/one.ts"], sources },
      strykerReport,
    );
    expect(run.sources).toEqual(sources);
    const same = renderReport(latestPerModule([run]), ["a/one.ts"], undefined, () => sources["a/one.ts"]);
    expect(same).toContain("| 2026-12-02 15:00 |");
    expect(same).not.toContain("changed since");
    const changed = renderReport(latestPerModule([run]), ["a/one.ts"], undefined, () => sourceHash("const x = 2;\n"));
    expect(changed).toContain("| 2026-12-02 15:00, source changed since |");
    expect(changed).toContain("Changed since their run (a re-run is due): a/one.ts.");
    const unrecorded = compactRun({ ...header, startedAt: "2026-12-02T15:00:00.000Z", args: [] }, strykerReport);
    expect(renderReport(latestPerModule([unrecorded]), ["a/one.ts"], undefined, () => "x")).toContain(
      "| 2026-12-02 15:00, source not recorded |",
    );
  });

  it("the module names of --mutate, without Stryker's line ranges", () => {
    expect(mutatedByArgs(["--mutate", "a/one.ts:10-20,b/two.ts", "--concurrency", "2"])).toEqual([
      "a/one.ts",
      "b/two.ts",
    ]);
    expect(mutatedByArgs(["--concurrency", "2"])).toBeUndefined();
  });
});

describe("scripts/mutation.ts partial runs (--mutate file:first-last)", () => {
  it("maps the lines of a module's earlier source onto its current one, and names the changed lines", () => {
    const before = "l1\nl2\nl3\nl4\nl5\n";
    const after = "l1\nl2\nnew\nl3\nL4\nl5\n";
    expect(diffLineMap(before, after)).toEqual({
      lineMap: [
        [1, 1, 2],
        [3, 4, 1],
        [5, 6, 1],
      ],
      changed: [3, 5],
    });
    expect(diffLineMap(before, before)).toEqual({ lineMap: [[1, 1, 5]], changed: [] });
    expect(diffLineMap(before, "l1\nl2\nl5\n")).toEqual({
      lineMap: [
        [1, 1, 2],
        [5, 3, 1],
      ],
      changed: [3],
    });
  });

  it("a deleted line marks the line after it as changed (what follows it may now behave differently)", () => {
    expect(diffLineMap("l1\nguard\nl3\nl4\n", "l1\nl3\nl4\n")).toEqual({
      lineMap: [
        [1, 1, 1],
        [3, 2, 2],
      ],
      changed: [2],
    });
  });

  it("refuses column ranges and a module named both whole and in part", () => {
    expect(() => rangesByArgs(["--mutate", "a/one.ts:10:5-20:3"])).toThrow(/whole lines/);
    expect(() => rangesByArgs(["--mutate", "a/one.ts,a/one.ts:3-4"])).toThrow(/both whole and in part/);
  });

  it("keeps the end line of a mutant over several lines, and a partial run re-runs it only when wholly in its ranges", () => {
    const report = structuredClone(strykerReport);
    const block = report.files["a/one.ts"].mutants[1] as { location: { start: object; end?: object } };
    block.location.end = { line: 4, column: 1 };
    const base = compactRun(
      { ...header, startedAt: "2026-12-02T15:00:00.000Z", args: ["--mutate", "a/one.ts"] },
      report,
    );
    expect(base.files["a/one.ts"]?.[1]).toMatchObject({ line: 2, endLine: 4 });
    const partial = (ranges: [number, number][]) => ({
      ...header,
      startedAt: "2026-12-02T16:00:00.000Z",
      args: ["--mutate", ranges.map(([a, b]) => `a/one.ts:${a}-${b}`).join(",")],
      ranges: { "a/one.ts": ranges },
      base: { "a/one.ts": { startedAt: base.startedAt, lineMap: [[1, 1, 9]] as [number, number, number][] } },
      files: { "a/one.ts": [] },
    });
    // Lines 2-3 hold the block's start, not its end: Stryker did not re-run it, its result is carried; the mutant of
    // line 2 alone was re-run.
    expect(latestPerModule([base, partial([[2, 3]])])[0]?.mutants.map((mutant) => mutant.id)).toEqual(["2"]);
    // Lines 2-4 hold all of it: it was re-run (here: no mutant any more), the earlier result is dropped.
    expect(latestPerModule([base, partial([[2, 4]])])[0]?.mutants.map((mutant) => mutant.id)).toEqual([]);
  });

  it("a partial run whose lines hold no mutant still measures its module (its row builds on the earlier run)", () => {
    const run = compactRun(
      { ...header, startedAt: "2026-12-02T16:00:00.000Z", args: ["--mutate", "a/one.ts:1-1,a/none.ts:3-4"] },
      strykerReport,
    );
    expect(run.files["a/none.ts"]).toEqual([]);
    expect(Object.keys(run.files)).toEqual(["a/none.ts", "a/one.ts"]);
  });

  it("a partial run's row is its own mutants and its base's outside its ranges, moved to the current lines", () => {
    const mutant = (id: string, line: number, status: string) => ({ id, mutator: "X", status, line, column: 1 });
    const base = {
      ...header,
      startedAt: "2026-12-02T15:00:00.000Z",
      args: ["--mutate", "a/one.ts"],
      files: {
        "a/one.ts": [
          mutant("1", 1, "Killed"),
          mutant("2", 3, "Killed"),
          mutant("3", 4, "Survived"),
          mutant("4", 5, "Killed"),
          mutant("5", 2, "Survived"),
          // A block from line 2 to past the ranges: Stryker re-runs only mutants wholly inside them, so it is carried.
          { id: "6", mutator: "BlockStatement", replacement: "{}", status: "Survived", line: 2, column: 9 },
        ],
      },
    };
    expect(rangesByArgs(["--mutate", "a/one.ts:2-3,a/one.ts:5-5,b.ts"])).toEqual({
      "a/one.ts": [
        [2, 3],
        [5, 5],
      ],
    });
    const partial = {
      ...header,
      startedAt: "2026-12-02T16:00:00.000Z",
      args: ["--mutate", "a/one.ts:2-3,a/one.ts:5-5"],
      ranges: rangesByArgs(["--mutate", "a/one.ts:2-3,a/one.ts:5-5"]),
      base: {
        "a/one.ts": {
          startedAt: base.startedAt,
          lineMap: [
            [1, 1, 2],
            [3, 4, 1],
            [5, 6, 1],
          ] as [number, number, number][],
        },
      },
      files: { "a/one.ts": [mutant("a", 2, "Killed"), mutant("b", 3, "Killed"), mutant("c", 5, "Timeout")] },
    };
    const [module] = latestPerModule([partial, base]);
    // Base line 2 (survived) was re-run as line 2; base line 4 changed (now 5, re-run); lines 1, 3 and 5 carried.
    expect(module?.mutants.map((entry) => [entry.id, entry.line, entry.status])).toEqual([
      ["1", 1, "Killed"],
      ["a", 2, "Killed"],
      ["6", 2, "Survived"],
      ["b", 3, "Killed"],
      ["2", 4, "Killed"],
      ["c", 5, "Timeout"],
      ["4", 6, "Killed"],
    ]);
    const report = renderReport(latestPerModule([base, partial]), ["a/one.ts"], undefined, () => undefined);
    expect(report).toContain(
      "| a/one.ts | 7 | 5 | 1 | 0 | 1 | 0 | 0 | 0 | 85.7 % | **85.7 %** | 2026-12-02 16:00 (lines 2-3, 5) over 2026-12-02 15:00, source not recorded |",
    );
    // Both runs are listed.
    expect(report).toContain("| 2026-12-02 15:00:00 |");
    expect(report).toContain("| 2026-12-02 16:00:00 |");
  });
});

describe("scripts/mutation.ts equivalent entries", () => {
  it("names an entry that matches no surviving mutant of its module's row (its line moved, or the mutant is killed)", () => {
    const run = compactRun(
      { ...header, startedAt: "2026-12-02T15:00:00.000Z", args: ["--mutate", "a/one.ts"] },
      strykerReport,
    );
    const entry = (line: number) => ({
      file: "a/one.ts",
      line,
      column: 5,
      mutator: "EqualityOperator",
      code: "if (x > 0)",
      reason: "r",
    });
    const matching = renderReport(latestPerModule([run]), ["a/one.ts"], undefined, () => undefined, [entry(2)]);
    expect(matching).not.toContain("match no surviving mutant");
    const stale = renderReport(latestPerModule([run]), ["a/one.ts"], undefined, () => undefined, [entry(2), entry(3)]);
    expect(stale).toContain(
      "Equivalent entries that match no surviving mutant (moved or killed: fix or drop them): a/one.ts:3:5.",
    );
  });
});

describe("docs/mutation-report.md", () => {
  it("is exactly what the stored runs give (regenerate: npm run mutation -- --report-only)", async () => {
    expect(readFileSync(mutationReportPath, "utf8")).toBe(await generateMutationReport());
  });
});
