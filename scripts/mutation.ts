#!/usr/bin/env -S npx tsx
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
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
  location: z.object({ start: z.object({ line: z.number(), column: z.number() }) }),
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

/** The modules `--mutate` names (Stryker's `file:lines` ranges cut off), or undefined: every configured module. */
export function mutatedByArgs(args: string[]): string[] | undefined {
  const mutateAt = args.indexOf("--mutate");
  if (mutateAt === -1) return undefined;
  return (args[mutateAt + 1] ?? "").split(",").map((entry) => entry.replace(/:[\d:-]+$/, ""));
}

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
      ...(mutant.status === "Survived" || mutant.status === "NoCoverage"
        ? { code: (lines[mutant.location.start.line - 1] ?? "").trim() }
        : {}),
    }));
  }
  return { ...run, files };
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

async function runStryker(args: string[]): Promise<void> {
  // Read before Stryker copies the sources into its sandbox, so the hashes are of what was mutated.
  const sources = Object.fromEntries(
    (mutatedByArgs(args) ?? (await configuredModules())).map((file) => [file, currentSourceHash(file) ?? ""]),
  );
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
  run: Run;
  mutants: Mutant[];
}

/** The newest run of each module wins. */
export function latestPerModule(runs: Run[]): ModuleResult[] {
  const byFile = new Map<string, ModuleResult>();
  for (const run of [...runs].sort((a, b) => a.startedAt.localeCompare(b.startedAt))) {
    for (const [file, mutants] of Object.entries(run.files)) byFile.set(file, { file, run, mutants });
  }
  return [...byFile.values()].sort((a, b) => a.file.localeCompare(b.file));
}

function findEquivalent(file: string, mutant: Mutant): Equivalent | undefined {
  return equivalentMutants.find(
    (candidate) =>
      candidate.file === file &&
      candidate.mutator === mutant.mutator &&
      candidate.line === mutant.line &&
      candidate.column === mutant.column &&
      (candidate.replacement === undefined || candidate.replacement === mutant.replacement) &&
      (mutant.code ?? "").includes(candidate.code),
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
function runCell(file: string, run: Run, currentSource: (file: string) => string | undefined): string {
  const when = run.startedAt.slice(0, 16).replace("T", " ");
  const measured = run.sources?.[file];
  if (measured === undefined) return `${when}, source not recorded`;
  return measured === currentSource(file) ? when : `${when}, source changed since`;
}

export function renderReport(
  modules: ModuleResult[],
  configured: string[],
  earlier?: EarlierRows,
  currentSource: (file: string) => string | undefined = currentSourceHash,
): string {
  const measured = new Set(modules.map((module) => module.file));
  // Carried-over rows only for modules no stored run covers; sorted in with the measured ones.
  const carried = (earlier?.modules ?? []).filter((module) => !measured.has(module.file));
  const carriedFiles = new Set(carried.map((module) => module.file));
  const unmeasured = configured.filter((file) => !measured.has(file) && !carriedFiles.has(file));
  const rows: [string, string][] = [];
  const survivors: [string, string][] = [];
  const equivalents: [string, string][] = [];
  const below: [string, string][] = [];
  const changed: string[] = [];
  for (const { file, mutants, run } of modules) {
    const when = runCell(file, run, currentSource);
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
      if (equivalent) equivalents.push([file, `| ${where} | ${what(mutant)} | ${cell(equivalent.reason)} |`]);
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
    for (const cells of module.equivalents) equivalents.push([module.file, row(cells)]);
    for (const cells of module.survivors) survivors.push([module.file, row(cells)]);
  }
  // Stable sort by module: each module's own rows keep their order.
  const byModule = (list: [string, string][]) =>
    [...list].sort(([a], [b]) => a.localeCompare(b)).map(([, text]) => text);
  const runs = [...new Map(modules.map((module) => [module.run.startedAt, module.run])).values()].sort((a, b) =>
    a.startedAt.localeCompare(b.startedAt),
  );
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
${changed.length === 0 ? "" : `\nChanged since their run (a re-run is due): ${changed.join(", ")}.\n`}${unmeasured.length === 0 ? "" : `\nNot measured yet (in stryker.config.mjs, but no run has mutated them): ${unmeasured.join(", ")}.\n`}
## Equivalent survivors

| where | mutant | why no test can tell it apart |
| --- | --- | --- |
${byModule(equivalents).join("\n") || "| - | none | |"}

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
