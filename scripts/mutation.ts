#!/usr/bin/env -S npx tsx
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { z } from "zod";
import { type Equivalent, equivalentMutants } from "./mutation-equivalents.ts";

/**
 * `npm run mutation [-- stryker options]`: runs StrykerJS (stryker.config.mjs), stores what the report needs of the
 * run (per mutant: mutator, replacement, status, location, the source line of the printed ones) with how it was run
 * (arguments, MUTATION_TESTS, duration, load) in docs/mutation-runs/, tracked in git, and regenerates
 * docs/mutation-report.md from the newest run of each module. `--report-only` skips Stryker and only regenerates, so
 * a fresh clone gives the same report. Stryker's full JSON and HTML reports stay in reports/mutation/ (not tracked).
 *
 *   npm run mutation                                        every module in stryker.config.mjs
 *   npm run mutation -- --mutate protocol/signing.ts        one module (or a comma-separated list)
 *   MUTATION_TESTS=test/protocol/signing.test.ts npm run mutation -- --mutate protocol/signing.ts
 *                                                           against its own tests only (quicker; never a higher score)
 */

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const reportJson = join(root, "reports", "mutation", "mutation.json");
/** Tracked in git: a fresh clone regenerates docs/mutation-report.md from these (`npm run mutation -- --report-only`). */
export const runsDir = join(root, "docs", "mutation-runs");
export const mutationReportPath = join(root, "docs", "mutation-report.md");

/** What Stryker's JSON report holds per mutant, as far as this script reads it. */
const strykerMutantSchema = z.object({
  id: z.string(),
  mutatorName: z.string(),
  replacement: z.string().optional(),
  status: z.string(),
  location: z.object({
    start: z.object({ line: z.number(), column: z.number() }),
    end: z.object({ line: z.number() }).optional(),
  }),
});
const strykerReportSchema = z.object({
  files: z.record(z.string(), z.object({ source: z.string(), mutants: z.array(strykerMutantSchema) })),
});
type StrykerReport = z.infer<typeof strykerReportSchema>;

/**
 * A mutant as a stored run keeps it: only what the report needs. `code`, the trimmed source line, is kept for the
 * mutants the report prints (survived, no coverage), where it is also what an equivalent entry is checked against;
 * the whole sources are not kept.
 */
const mutantSchema = z.object({
  id: z.string(),
  mutator: z.string(),
  replacement: z.string().optional(),
  status: z.string(),
  line: z.number(),
  column: z.number(),
  /** For a mutant over several lines (a block, a case clause): its last line. A partial run re-runs it only whole. */
  endLine: z.number().optional(),
  code: z.string().optional(),
});
const runSchema = z.object({
  startedAt: z.string(),
  durationMs: z.number(),
  args: z.array(z.string()),
  mutationTests: z.string().nullable(),
  /** BRIDGE_TEST_STORES when the run narrowed the bridge tests to one store (absent: both stores). */
  testStores: z.string().nullable().optional(),
  loadBefore: z.array(z.number()),
  loadAfter: z.array(z.number()),
  exitCode: z.number().nullable(),
  /**
   * SHA-256 of each mutated module's source as the run read it, so the report can tell a row whose module changed
   * since (its mutants describe code that is no longer there). Runs stored before this was recorded had it added
   * afterwards, from the module as it was in the commit that added the run's file.
   */
  sources: z.record(z.string(), z.string()).optional(),
  /**
   * A partial run (`--mutate file:first-last`, Stryker's line ranges): the lines it mutated, per module, in its own
   * source's numbering. Its other mutants are those of `base`.
   */
  ranges: z.record(z.string(), z.array(z.tuple([z.number(), z.number()]))).optional(),
  /**
   * Per module of a partial run: the run its mutants outside `ranges` come from (by startedAt), and how that run's
   * source lines map onto this run's: blocks of unchanged lines [base line, this run's line, count]. A mutant of the
   * base on a line that changed is not carried over; the run refuses to start unless its ranges cover every changed
   * line, so no mutant of the current source goes unmeasured.
   */
  base: z
    .record(
      z.string(),
      z.object({ startedAt: z.string(), lineMap: z.array(z.tuple([z.number(), z.number(), z.number()])) }),
    )
    .optional(),
  /** Whether the run kept `endLine` for its mutants over several lines (runs before did not). */
  endLines: z.boolean().optional(),
  /** Only the modules the run was asked to mutate (Stryker's report also repeats others from its incremental file). */
  files: z.record(z.string(), z.array(mutantSchema)),
});
export type Run = z.infer<typeof runSchema>;
type Mutant = z.infer<typeof mutantSchema>;

/**
 * Rows measured before runs were kept in git (issue 16, first runs): their mutant lists are lost, so the rows are
 * carried over as printed, marked, until a stored run of the module replaces them.
 */
const earlierRowsSchema = z.object({
  note: z.string(),
  modules: z.array(
    z.object({
      file: z.string(),
      /** The module table's cells after the module name, as printed. */
      cells: z.array(z.string()),
      scoreWithoutEquivalents: z.number(),
      /** Rows of the equivalent and of the not-yet-explained survivor tables, cells as printed. */
      equivalents: z.array(z.array(z.string())),
      survivors: z.array(z.array(z.string())),
    }),
  ),
  runs: z.array(z.array(z.string())),
});
type EarlierRows = z.infer<typeof earlierRowsSchema>;
const earlierRowsPath = join(runsDir, "earlier-rows.json");

export const sourceHash = (source: string) => createHash("sha256").update(source).digest("hex");

const mutateRange = /^(.*?):(\d+)-(\d+)$/;

/** The modules `--mutate` names (Stryker's `file:lines` ranges cut off), or undefined: every configured module. */
export function mutatedByArgs(args: string[]): string[] | undefined {
  const mutateAt = args.indexOf("--mutate");
  if (mutateAt === -1) return undefined;
  const files = (args[mutateAt + 1] ?? "").split(",").map((entry) => entry.replace(mutateRange, "$1"));
  return [...new Set(files)];
}

/**
 * The line ranges `--mutate` gives (`file:first-last`), per module. Column ranges are refused (a partial run measures
 * whole lines), and so is a module named both whole and in part (its mutants would be counted twice).
 */
export function rangesByArgs(args: string[]): Record<string, [number, number][]> {
  const mutateAt = args.indexOf("--mutate");
  const entries = mutateAt === -1 ? [] : (args[mutateAt + 1] ?? "").split(",");
  const ranges: Record<string, [number, number][]> = {};
  for (const entry of entries) {
    if (/:\d+:\d+-|-\d+:\d+$/.test(entry))
      throw new Error(`${entry}: a partial run takes whole lines (file:first-last)`);
    const match = mutateRange.exec(entry);
    if (!match) continue;
    const [, file = "", first = "", last = ""] = match;
    ranges[file] = [...(ranges[file] ?? []), [Number(first), Number(last)]];
  }
  const both = entries.filter((entry) => entry in ranges);
  if (both.length > 0) throw new Error(`${both.join(", ")}: named both whole and in part`);
  return ranges;
}

type LineMap = [number, number, number][];

/**
 * How the lines of `before` map onto those of `after`: the unchanged blocks [line in before, line in after, count],
 * and the lines of `after` that are new or changed. From `git diff --no-index -U0`'s hunk headers.
 */
export function diffLineMap(before: string, after: string): { lineMap: LineMap; changed: number[] } {
  const dir = mkdtempSync(join(tmpdir(), "mutation-diff-"));
  try {
    writeFileSync(join(dir, "before"), before);
    writeFileSync(join(dir, "after"), after);
    // --no-ext-diff and --text: a configured external diff or a NUL byte would give no hunks, so no change at all.
    const diff = spawnSync(
      "git",
      ["diff", "--no-index", "--no-ext-diff", "--text", "-U0", "--no-color", "before", "after"],
      {
        cwd: dir,
        encoding: "utf8",
      },
    );
    if (diff.status !== 0 && diff.status !== 1) throw new Error(`git diff failed: ${diff.stderr}`);
    const lineCount = (text: string) => text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
    const lineMap: LineMap = [];
    const changed: number[] = [];
    let oldAt = 1;
    let newAt = 1;
    let added = 0;
    for (const [, a, b, c, d] of diff.stdout.matchAll(/^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@/gm)) {
      const oldCount = b === undefined ? 1 : Number(b);
      const newCount = d === undefined ? 1 : Number(d);
      // A count of 0 names the line before the insertion or deletion.
      const oldStart = oldCount === 0 ? Number(a) + 1 : Number(a);
      const newStart = newCount === 0 ? Number(c) + 1 : Number(c);
      if (oldStart > oldAt) lineMap.push([oldAt, newAt, oldStart - oldAt]);
      for (let line = newStart; line < newStart + newCount; line++) changed.push(line);
      added += newCount;
      // A deletion changes what the line after it does (a guard removed): that line is measured again.
      if (newCount === 0 && newStart <= lineCount(after)) changed.push(newStart);
      oldAt = oldStart + oldCount;
      newAt = newStart + newCount;
    }
    const rest = lineCount(before) - oldAt + 1;
    if (rest > 0) lineMap.push([oldAt, newAt, rest]);
    const unchanged = lineMap.reduce((sum, [, , count]) => sum + count, 0);
    if (unchanged + added !== lineCount(after)) throw new Error("git diff's hunks do not account for every line");
    return { lineMap, changed: [...new Set(changed)].sort((a, b) => a - b) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function mapLine(lineMap: LineMap, line: number): number | undefined {
  for (const [from, to, count] of lineMap) if (line >= from && line < from + count) return to + (line - from);
  return undefined;
}

const inRanges = (ranges: [number, number][], line: number) =>
  ranges.some(([first, last]) => line >= first && line <= last);

/** Selects, from Stryker's report, what a stored run keeps. */
export function compactRun(run: Omit<Run, "files">, report: StrykerReport): Run {
  const asked = mutatedByArgs(run.args);
  const files: Run["files"] = {};
  for (const [file, entry] of Object.entries(report.files).sort(([a], [b]) => a.localeCompare(b))) {
    if (asked && !asked.includes(file)) continue;
    const lines = entry.source.split("\n");
    files[file] = entry.mutants.map((mutant) => ({
      id: mutant.id,
      mutator: mutant.mutatorName,
      ...(mutant.replacement === undefined ? {} : { replacement: mutant.replacement }),
      status: mutant.status,
      line: mutant.location.start.line,
      column: mutant.location.start.column,
      ...(mutant.location.end && mutant.location.end.line !== mutant.location.start.line
        ? { endLine: mutant.location.end.line }
        : {}),
      ...(mutant.status === "Survived" || mutant.status === "NoCoverage"
        ? { code: (lines[mutant.location.start.line - 1] ?? "").trim() }
        : {}),
    }));
  }
  // A module asked for that Stryker reports nothing of (no mutant in a partial run's lines) was still measured.
  for (const file of Object.keys(rangesByArgs(run.args))) files[file] ??= [];
  const sorted = Object.fromEntries(Object.entries(files).sort(([a], [b]) => a.localeCompare(b)));
  return { ...run, endLines: true, files: sorted };
}

/** One mutant a line: small diffs when a module is measured again. */
export function serializeRun(run: Run): string {
  const { files, ...header } = run;
  const fileBlocks = Object.entries(files).map(
    ([file, mutants]) =>
      `  ${JSON.stringify(file)}: [\n${mutants.map((mutant) => `   ${JSON.stringify(mutant)}`).join(",\n")}\n  ]`,
  );
  const headerLines = Object.entries(header).map(
    ([key, value]) => ` ${JSON.stringify(key)}: ${JSON.stringify(value)},`,
  );
  return `{\n${headerLines.join("\n")}\n "files": {\n${fileBlocks.join(",\n")}\n }\n}\n`;
}

function currentSourceHash(file: string): string | undefined {
  const path = join(root, file);
  return existsSync(path) ? sourceHash(readFileSync(path, "utf8")) : undefined;
}

/** A module's source as some commit held it, found by its hash (the source a stored run mutated). */
function sourceByHash(file: string, hash: string): string | undefined {
  const path = join(root, file);
  if (existsSync(path) && sourceHash(readFileSync(path, "utf8")) === hash) return readFileSync(path, "utf8");
  const git = (gitArgs: string[]) => spawnSync("git", gitArgs, { cwd: root, encoding: "utf8", maxBuffer: 1 << 26 });
  const commits = git(["log", "--all", "--full-history", "--format=%H", "--", file]).stdout.split("\n");
  for (const commit of commits.filter(Boolean)) {
    const shown = git(["show", `${commit}:${file}`]);
    if (shown.status === 0 && sourceHash(shown.stdout) === hash) return shown.stdout;
  }
  return undefined;
}

/**
 * For a partial run: per module, the run it builds on and the line map onto the current source. Exits when the
 * ranges leave a changed line unmeasured, or the base run's source cannot be found.
 */
function partialBases(ranges: Record<string, [number, number][]>): NonNullable<Run["base"]> {
  const latest = latestPerModule(loadRuns());
  const bases: NonNullable<Run["base"]> = {};
  for (const [file, fileRanges] of Object.entries(ranges)) {
    const module = latest.find((candidate) => candidate.file === file);
    const hash = module?.run.sources?.[file];
    const before = module && hash ? sourceByHash(file, hash) : undefined;
    if (!module || !before) {
      console.error(`${file}: a partial run needs a stored run of the module whose source git still holds`);
      process.exit(2);
    }
    const { lineMap, changed } = diffLineMap(before, readFileSync(join(root, file), "utf8"));
    const unmeasured = changed.filter((line) => !inRanges(fileRanges, line));
    if (unmeasured.length > 0) {
      console.error(
        `${file}: lines changed since the run of ${module.run.startedAt} are outside the ranges: ${unmeasured.join(", ")}`,
      );
      process.exit(2);
    }
    // A mutant over several lines with a changed line inside is re-run only when one range holds all of it.
    const spans = module.run.endLines
      ? module.mutants.flatMap((mutant) => {
          const first = mapLine(lineMap, mutant.line);
          const last = mutant.endLine === undefined ? first : mapLine(lineMap, mutant.endLine);
          if (first === undefined || last === undefined || last === first) return [];
          const touched = changed.some((line) => line > first && line <= last);
          const whole = fileRanges.some(([from, to]) => first >= from && last <= to);
          return touched && !whole ? [`${first}-${last}`] : [];
        })
      : [];
    if (spans.length > 0) {
      console.error(
        `${file}: changed lines lie inside mutants the ranges do not hold whole; add: ${[...new Set(spans)].join(", ")}`,
      );
      process.exit(2);
    }
    bases[file] = { startedAt: module.run.startedAt, lineMap };
  }
  return bases;
}

async function runStryker(args: string[]): Promise<void> {
  // Read before Stryker copies the sources into its sandbox, so the hashes are of what was mutated.
  const sources = Object.fromEntries(
    (mutatedByArgs(args) ?? (await configuredModules())).map((file) => [file, currentSourceHash(file) ?? ""]),
  );
  const ranges = rangesByArgs(args);
  const partial = Object.keys(ranges).length > 0 ? { ranges, base: partialBases(ranges) } : {};
  const startedAt = new Date();
  const loadBefore = loadavg();
  const result = spawnSync("npx", ["stryker", "run", ...args], { cwd: root, stdio: "inherit" });
  const run: Omit<Run, "files"> = {
    startedAt: startedAt.toISOString(),
    durationMs: Date.now() - startedAt.getTime(),
    args,
    mutationTests: process.env.MUTATION_TESTS ?? null,
    testStores: process.env.BRIDGE_TEST_STORES ?? null,
    loadBefore,
    loadAfter: loadavg(),
    exitCode: result.status,
    sources,
    ...partial,
  };
  if (result.status !== 0 || !existsSync(reportJson)) {
    console.error(`stryker exited with ${result.status}; the report is not updated`);
    process.exit(result.status ?? 1);
  }
  mkdirSync(runsDir, { recursive: true });
  const report = strykerReportSchema.parse(JSON.parse(readFileSync(reportJson, "utf8")));
  const file = join(runsDir, `${run.startedAt.replaceAll(":", "-")}.json`);
  writeFileSync(file, serializeRun(compactRun(run, report)));
  console.log(`wrote ${file}`);
}

export function loadRuns(dir = runsDir): Run[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => name.endsWith(".json") && join(dir, name) !== earlierRowsPath)
    .sort()
    .map((name) => runSchema.parse(JSON.parse(readFileSync(join(dir, name), "utf8"))));
}

function loadEarlierRows(): EarlierRows | undefined {
  if (!existsSync(earlierRowsPath)) return undefined;
  return earlierRowsSchema.parse(JSON.parse(readFileSync(earlierRowsPath, "utf8")));
}

export interface ModuleResult {
  file: string;
  /** The newest run of the module. */
  run: Run;
  /** The runs a partial run builds on, oldest first (empty for a whole run). */
  bases: Run[];
  mutants: Mutant[];
}

/** A module as `run` measured it: its own mutants, and for a partial run those of its base outside its ranges. */
function resolveModule(file: string, run: Run, runs: Run[]): ModuleResult {
  const own = run.files[file] ?? [];
  const base = run.base?.[file];
  if (!base) return { file, run, bases: [], mutants: own };
  const baseRun = runs.find((candidate) => candidate.startedAt === base.startedAt);
  if (!baseRun) throw new Error(`${file}: the run of ${run.startedAt} builds on a run of ${base.startedAt} not stored`);
  const earlier = resolveModule(file, baseRun, runs);
  const ranges = run.ranges?.[file] ?? [];
  // Stryker re-runs only the mutants wholly inside the ranges: one that starts there but ends past them (a block, a
  // case clause, a condition over several lines) has no counterpart in this run and keeps its earlier result.
  const rerun = new Map<string, number>();
  const key = (mutant: Mutant, line: number) => `${line}:${mutant.column}:${mutant.mutator}:${mutant.replacement}`;
  for (const mutant of own) rerun.set(key(mutant, mutant.line), (rerun.get(key(mutant, mutant.line)) ?? 0) + 1);
  const carried = earlier.mutants.flatMap((mutant) => {
    const line = mapLine(base.lineMap, mutant.line);
    if (line === undefined) return [];
    if (baseRun.endLines) {
      // Its span is known: Stryker re-ran it when one range holds all of it (its last line changed: re-run too).
      const endLine = mapLine(base.lineMap, mutant.endLine ?? mutant.line);
      const whole = ranges.some(([first, last]) => line >= first && (endLine ?? last) <= last && line <= last);
      return whole
        ? []
        : [{ ...mutant, line, ...(mutant.endLine === undefined ? {} : { endLine: endLine ?? mutant.endLine }) }];
    }
    const left = rerun.get(key(mutant, line)) ?? 0;
    if (inRanges(ranges, line) && left > 0) {
      rerun.set(key(mutant, line), left - 1);
      return [];
    }
    return [{ ...mutant, line }];
  });
  const mutants = [...carried, ...own].sort((a, b) => a.line - b.line || a.column - b.column);
  return { file, run, bases: [...earlier.bases, earlier.run], mutants };
}

/** The newest run of each module wins; a partial one over the runs it builds on. */
export function latestPerModule(runs: Run[]): ModuleResult[] {
  const newest = new Map<string, Run>();
  for (const run of [...runs].sort((a, b) => a.startedAt.localeCompare(b.startedAt))) {
    for (const file of Object.keys(run.files)) newest.set(file, run);
  }
  return [...newest.entries()]
    .map(([file, run]) => resolveModule(file, run, runs))
    .sort((a, b) => a.file.localeCompare(b.file));
}

/** Whether an equivalent entry names this mutant (its line, column, mutator, replacement and a piece of its code). */
function matches(candidate: Equivalent, file: string, mutant: Mutant): boolean {
  return (
    candidate.file === file &&
    candidate.mutator === mutant.mutator &&
    candidate.line === mutant.line &&
    candidate.column === mutant.column &&
    (candidate.replacement === undefined || candidate.replacement === mutant.replacement) &&
    (mutant.code ?? "").includes(candidate.code)
  );
}

const count = (mutants: Mutant[], status: string) => mutants.filter((mutant) => mutant.status === status).length;
const percent = (value: number) => `${value.toFixed(1)} %`;
const formatDuration = (ms: number) => `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
const cell = (text: string) => text.replaceAll("|", "\\|").replaceAll("\n", " ");

/** The modules stryker.config.mjs mutates, to name those no run has measured yet. */
async function configuredModules(): Promise<string[]> {
  const config = (await import(pathToFileURL(join(root, "stryker.config.mjs")).href)) as { mutatedModules: unknown };
  return z.array(z.string()).parse(config.mutatedModules);
}

const earlierMark = " (earlier run, mutant list not stored)";

/** A row's run cell: when, and whether the module's source is still what the run mutated. */
const shortTime = (run: Run) => run.startedAt.slice(0, 16).replace("T", " ");

/** A row's run cell: when (a partial run: its lines, over which runs), and whether the module's source is still what the run mutated. */
function runCell({ file, run, bases }: ModuleResult, currentSource: (file: string) => string | undefined): string {
  const lines = (run.ranges?.[file] ?? []).map(([first, last]) => (first === last ? `${first}` : `${first}-${last}`));
  const when =
    bases.length === 0
      ? shortTime(run)
      : `${shortTime(run)} (lines ${lines.join(", ")}) over ${bases.map(shortTime).reverse().join(" over ")}`;
  const measured = run.sources?.[file];
  if (measured === undefined) return `${when}, source not recorded`;
  return measured === currentSource(file) ? when : `${when}, source changed since`;
}

export function renderReport(
  modules: ModuleResult[],
  configured: string[],
  earlier?: EarlierRows,
  currentSource: (file: string) => string | undefined = currentSourceHash,
  equivalents: Equivalent[] = equivalentMutants,
): string {
  const findEquivalent = (file: string, mutant: Mutant) =>
    equivalents.find((candidate) => matches(candidate, file, mutant));
  // An entry keyed to a line that moved, or to a mutant now killed, explains nothing: say so rather than keep it.
  const unmatched = equivalents.filter((candidate) =>
    modules.some(
      (module) =>
        module.file === candidate.file &&
        !module.mutants.some(
          (mutant) =>
            (mutant.status === "Survived" || mutant.status === "NoCoverage") && matches(candidate, module.file, mutant),
        ),
    ),
  );
  const measured = new Set(modules.map((module) => module.file));
  // Carried-over rows only for modules no stored run covers; sorted in with the measured ones.
  const carried = (earlier?.modules ?? []).filter((module) => !measured.has(module.file));
  const carriedFiles = new Set(carried.map((module) => module.file));
  const unmeasured = configured.filter((file) => !measured.has(file) && !carriedFiles.has(file));
  const rows: [string, string][] = [];
  const survivors: [string, string][] = [];
  const equivalentRows: [string, string][] = [];
  const below: [string, string][] = [];
  const changed: string[] = [];
  for (const module of modules) {
    const { file, mutants } = module;
    const when = runCell(module, currentSource);
    if (when.endsWith("changed since")) changed.push(file);
    const killed = count(mutants, "Killed");
    const timeout = count(mutants, "Timeout");
    const noCoverage = count(mutants, "NoCoverage");
    const survived = mutants.filter((mutant) => mutant.status === "Survived");
    // An unreachable line (a default that never applies) shows as no coverage; named, it counts as equivalent too.
    const named = mutants.filter(
      (mutant) => (mutant.status === "Survived" || mutant.status === "NoCoverage") && findEquivalent(file, mutant),
    );
    const detected = killed + timeout;
    const valid = detected + survived.length + noCoverage;
    const score = valid === 0 ? 100 : (100 * detected) / valid;
    const scoreWithoutEquivalents = valid - named.length === 0 ? 100 : (100 * detected) / (valid - named.length);
    if (scoreWithoutEquivalents < 90) below.push([file, `${file} (${percent(scoreWithoutEquivalents)})`]);
    rows.push([
      file,
      `| ${file} | ${mutants.length} | ${killed} | ${survived.length} | ${named.length} | ${timeout} | ${noCoverage} | ` +
        `${count(mutants, "CompileError")} | ${count(mutants, "Ignored")} | ${percent(score)} | ` +
        `**${percent(scoreWithoutEquivalents)}** | ${when} |`,
    ]);
    const what = (mutant: Mutant) =>
      `${mutant.mutator} \`${cell(mutant.replacement ?? "")}\` in \`${cell(mutant.code ?? "")}\``;
    for (const mutant of [...survived, ...named.filter((candidate) => candidate.status === "NoCoverage")]) {
      const where = `${file}:${mutant.line}:${mutant.column}`;
      const equivalent = findEquivalent(file, mutant);
      if (equivalent) equivalentRows.push([file, `| ${where} | ${what(mutant)} | ${cell(equivalent.reason)} |`]);
      else survivors.push([file, `| ${where} | ${what(mutant)} |`]);
    }
    for (const mutant of mutants.filter(
      (candidate) => candidate.status === "NoCoverage" && !findEquivalent(file, candidate),
    )) {
      survivors.push([file, `| ${file}:${mutant.line}:${mutant.column} | no coverage: ${what(mutant)} |`]);
    }
  }
  const row = (cells: string[]) => `| ${cells.join(" | ")} |`;
  for (const module of carried) {
    const cells = [...module.cells];
    cells[cells.length - 1] = `${cells.at(-1)}${earlierMark}`;
    rows.push([module.file, row([module.file, ...cells])]);
    if (module.scoreWithoutEquivalents < 90) {
      below.push([module.file, `${module.file} (${percent(module.scoreWithoutEquivalents)}, earlier run)`]);
    }
    for (const cells of module.equivalents) equivalentRows.push([module.file, row(cells)]);
    for (const cells of module.survivors) survivors.push([module.file, row(cells)]);
  }
  // Stable sort by module: each module's own rows keep their order.
  const byModule = (list: [string, string][]) =>
    [...list].sort(([a], [b]) => a.localeCompare(b)).map(([, text]) => text);
  const runs = [
    ...new Map(modules.flatMap((module) => [module.run, ...module.bases]).map((run) => [run.startedAt, run])).values(),
  ].sort((a, b) => a.startedAt.localeCompare(b.startedAt));
  const runRows = runs.map(
    (run) =>
      `| ${run.startedAt.slice(0, 19).replace("T", " ")} | ${formatDuration(run.durationMs)} | \`npm run mutation${run.args.length ? ` -- ${cell(run.args.join(" "))}` : ""}\` | ${run.mutationTests ? `MUTATION_TESTS=${cell(run.mutationTests)}` : "vitest.mutation.config.ts (related files)"}${run.testStores ? ` BRIDGE_TEST_STORES=${run.testStores}` : ""} | ${run.loadBefore.map((value) => value.toFixed(1)).join(", ")} / ${run.loadAfter.map((value) => value.toFixed(1)).join(", ")} |`,
  );
  // An earlier run is listed while a carried-over row still comes from it.
  const carriedRuns = (earlier?.runs ?? [])
    .filter((cells) => carried.some((module) => module.cells.at(-1) === cells[0]?.slice(0, 16)))
    .map((cells) => row([`${cells[0]}${earlierMark}`, ...cells.slice(1)]));
  return `# Mutation testing report

Generated by \`npm run mutation\` (scripts/mutation.ts) from the newest StrykerJS run of each module, stored in
docs/mutation-runs/ (\`npm run mutation -- --report-only\` regenerates it from there); do not edit by hand.
Configuration: stryker.config.mjs (vitest runner, perTest coverage, TypeScript checker, static mutants ignored) and
vitest.mutation.config.ts (the in-process tests; process, pty, browser, systemd and chaos suites are not run per
mutant).

**Score** is Stryker's: (killed + timeout) / (killed + timeout + survived + no coverage); compile errors (mutants the
TypeScript checker rejects) and ignored ones (static mutants, \`// Stryker disable\` with a reason) are not counted.
**Score without equivalents** also leaves out the survivors named below as equivalent, each with the reason. Goal:
>= 90 % on each module.${carried.length === 0 ? "" : `\n\nRows marked "${earlierMark.trim()}" come from docs/mutation-runs/earlier-rows.json: ${earlier?.note ?? ""}`}

| module | mutants | killed | survived | of which equivalent (incl. unreachable, no coverage) | timeout | no coverage | compile error | ignored | score | score without equivalents | run (UTC) |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
${byModule(rows).join("\n")}

${below.length === 0 ? "Every module listed is at >= 90 % (without equivalents)." : `Below 90 %: ${byModule(below).join(", ")}.`}
${changed.length === 0 ? "" : `\nChanged since their run (a re-run is due): ${changed.join(", ")}.\n`}${unmatched.length === 0 ? "" : `\nEquivalent entries that match no surviving mutant (moved or killed: fix or drop them): ${unmatched.map((entry) => `${entry.file}:${entry.line}:${entry.column}`).join(", ")}.\n`}${unmeasured.length === 0 ? "" : `\nNot measured yet (in stryker.config.mjs, but no run has mutated them): ${unmeasured.join(", ")}.\n`}
## Equivalent survivors

| where | mutant | why no test can tell it apart |
| --- | --- | --- |
${byModule(equivalentRows).join("\n") || "| - | none | |"}

## Survivors not yet killed or explained

| where | mutant |
| --- | --- |
${byModule(survivors).join("\n") || "| - | none |"}

## Runs

| started (UTC) | took | command | tests per mutant from | load average before / after (1, 5, 15 min) |
| --- | --- | --- | --- | --- |
${[...runRows, ...carriedRuns].join("\n")}
`;
}

/** The report as the stored runs give it. */
export async function generateMutationReport(): Promise<string> {
  return renderReport(latestPerModule(loadRuns()), await configuredModules(), loadEarlierRows());
}

const isMain = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain) {
  const args = process.argv.slice(2);
  if (!args.includes("--report-only")) await runStryker(args);
  writeFileSync(mutationReportPath, await generateMutationReport());
  console.log(`wrote ${mutationReportPath}`);
}
