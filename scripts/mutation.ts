#!/usr/bin/env -S npx tsx
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { z } from "zod";
import { type Equivalent, equivalentMutants } from "./mutation-equivalents.ts";

/**
 * `npm run mutation [-- stryker options]`: runs StrykerJS (stryker.config.mjs), keeps the run's JSON report under
 * reports/mutation/runs/ with how it was run (arguments, MUTATION_TESTS, duration, load), and regenerates
 * docs/mutation-report.md from the newest run of each module. `--report-only` skips Stryker and only regenerates.
 *
 *   npm run mutation                                        every module in stryker.config.mjs
 *   npm run mutation -- --mutate protocol/signing.ts        one module (or a comma-separated list)
 *   MUTATION_TESTS=test/protocol/signing.test.ts npm run mutation -- --mutate protocol/signing.ts
 *                                                           against its own tests only (quicker; never a higher score)
 */

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const reportJson = join(root, "reports", "mutation", "mutation.json");
const runsDir = join(root, "reports", "mutation", "runs");
export const mutationReportPath = join(root, "docs", "mutation-report.md");

const mutantSchema = z.object({
  id: z.string(),
  mutatorName: z.string(),
  replacement: z.string().optional(),
  status: z.string(),
  statusReason: z.string().optional(),
  location: z.object({ start: z.object({ line: z.number(), column: z.number() }) }),
});
const reportSchema = z.object({
  files: z.record(z.string(), z.object({ source: z.string(), mutants: z.array(mutantSchema) })),
});
const runSchema = z.object({
  startedAt: z.string(),
  durationMs: z.number(),
  args: z.array(z.string()),
  mutationTests: z.string().nullable(),
  loadBefore: z.array(z.number()),
  loadAfter: z.array(z.number()),
  exitCode: z.number().nullable(),
  report: reportSchema,
});
type Run = z.infer<typeof runSchema>;
type Mutant = z.infer<typeof mutantSchema>;

function runStryker(args: string[]): void {
  const startedAt = new Date();
  const loadBefore = loadavg();
  const result = spawnSync("npx", ["stryker", "run", ...args], { cwd: root, stdio: "inherit" });
  const run: Omit<Run, "report"> = {
    startedAt: startedAt.toISOString(),
    durationMs: Date.now() - startedAt.getTime(),
    args,
    mutationTests: process.env.MUTATION_TESTS ?? null,
    loadBefore,
    loadAfter: loadavg(),
    exitCode: result.status,
  };
  if (result.status !== 0 || !existsSync(reportJson)) {
    console.error(`stryker exited with ${result.status}; the report is not updated`);
    process.exit(result.status ?? 1);
  }
  mkdirSync(runsDir, { recursive: true });
  const report = reportSchema.parse(JSON.parse(readFileSync(reportJson, "utf8")));
  const file = join(runsDir, `${run.startedAt.replaceAll(":", "-")}.json`);
  writeFileSync(file, `${JSON.stringify({ ...run, report }, null, 1)}\n`);
  copyFileSync(reportJson.replace(/\.json$/, ".html"), file.replace(/\.json$/, ".html"));
}

function loadRuns(): Run[] {
  if (!existsSync(runsDir)) return [];
  return readdirSync(runsDir)
    .filter((name) => name.endsWith(".json"))
    .sort()
    .map((name) => runSchema.parse(JSON.parse(readFileSync(join(runsDir, name), "utf8"))));
}

interface ModuleResult {
  file: string;
  run: Run;
  mutants: Mutant[];
  source: string;
}

/** The newest run of each module wins. */
function latestPerModule(runs: Run[]): ModuleResult[] {
  const byFile = new Map<string, ModuleResult>();
  for (const run of runs) {
    // With --mutate, Stryker's report also carries the other modules' results from its incremental file: a run
    // counts only for the modules it was asked to mutate.
    const mutateAt = run.args.indexOf("--mutate");
    const asked = mutateAt === -1 ? undefined : (run.args[mutateAt + 1] ?? "").split(",");
    for (const [file, entry] of Object.entries(run.report.files)) {
      if (asked && !asked.includes(file)) continue;
      byFile.set(file, { file, run, mutants: entry.mutants, source: entry.source });
    }
  }
  return [...byFile.values()].sort((a, b) => a.file.localeCompare(b.file));
}

const lineOf = (source: string, line: number) => (source.split("\n")[line - 1] ?? "").trim();

function findEquivalent(file: string, mutant: Mutant, source: string): Equivalent | undefined {
  return equivalentMutants.find(
    (candidate) =>
      candidate.file === file &&
      candidate.mutator === mutant.mutatorName &&
      candidate.line === mutant.location.start.line &&
      candidate.column === mutant.location.start.column &&
      (candidate.replacement === undefined || candidate.replacement === mutant.replacement) &&
      lineOf(source, candidate.line).includes(candidate.code),
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

export function renderReport(modules: ModuleResult[], configured: string[]): string {
  const measured = new Set(modules.map((module) => module.file));
  const unmeasured = configured.filter((file) => !measured.has(file));
  const rows: string[] = [];
  const survivors: string[] = [];
  const equivalents: string[] = [];
  const below: string[] = [];
  for (const { file, mutants, source, run } of modules) {
    const killed = count(mutants, "Killed");
    const timeout = count(mutants, "Timeout");
    const noCoverage = count(mutants, "NoCoverage");
    const survived = mutants.filter((mutant) => mutant.status === "Survived");
    // An unreachable line (a default that never applies) shows as no coverage; named, it counts as equivalent too.
    const named = mutants.filter(
      (mutant) =>
        (mutant.status === "Survived" || mutant.status === "NoCoverage") && findEquivalent(file, mutant, source),
    );
    const detected = killed + timeout;
    const valid = detected + survived.length + noCoverage;
    const score = valid === 0 ? 100 : (100 * detected) / valid;
    const scoreWithoutEquivalents = valid - named.length === 0 ? 100 : (100 * detected) / (valid - named.length);
    if (scoreWithoutEquivalents < 90) below.push(`${file} (${percent(scoreWithoutEquivalents)})`);
    rows.push(
      `| ${file} | ${mutants.length} | ${killed} | ${survived.length} | ${named.length} | ${timeout} | ${noCoverage} | ` +
        `${count(mutants, "CompileError")} | ${count(mutants, "Ignored")} | ${percent(score)} | ` +
        `**${percent(scoreWithoutEquivalents)}** | ${run.startedAt.slice(0, 16).replace("T", " ")} |`,
    );
    for (const mutant of [...survived, ...named.filter((candidate) => candidate.status === "NoCoverage")]) {
      const where = `${file}:${mutant.location.start.line}:${mutant.location.start.column}`;
      const equivalent = findEquivalent(file, mutant, source);
      const what = `${mutant.mutatorName} \`${cell(mutant.replacement ?? "")}\` in \`${cell(lineOf(source, mutant.location.start.line))}\``;
      if (equivalent) equivalents.push(`| ${where} | ${what} | ${cell(equivalent.reason)} |`);
      else survivors.push(`| ${where} | ${what} |`);
    }
    for (const mutant of mutants.filter(
      (candidate) => candidate.status === "NoCoverage" && !findEquivalent(file, candidate, source),
    )) {
      survivors.push(
        `| ${file}:${mutant.location.start.line}:${mutant.location.start.column} | no coverage: ${mutant.mutatorName} \`${cell(mutant.replacement ?? "")}\` in \`${cell(lineOf(source, mutant.location.start.line))}\` |`,
      );
    }
  }
  const runs = [...new Map(modules.map((module) => [module.run.startedAt, module.run])).values()];
  return `# Mutation testing report

Generated by \`npm run mutation\` (scripts/mutation.ts) from the newest StrykerJS run of each module; do not edit by
hand. Configuration: stryker.config.mjs (vitest runner, perTest coverage, TypeScript checker, static mutants ignored)
and vitest.mutation.config.ts (the in-process tests; process, pty, browser, systemd and chaos suites are not run per
mutant).

**Score** is Stryker's: (killed + timeout) / (killed + timeout + survived + no coverage); compile errors (mutants the
TypeScript checker rejects) and ignored ones (static mutants, \`// Stryker disable\` with a reason) are not counted.
**Score without equivalents** also leaves out the survivors named below as equivalent, each with the reason. Goal:
>= 90 % on each module.

| module | mutants | killed | survived | of which equivalent (incl. unreachable, no coverage) | timeout | no coverage | compile error | ignored | score | score without equivalents | run (UTC) |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
${rows.join("\n")}

${below.length === 0 ? "Every module listed is at >= 90 % (without equivalents)." : `Below 90 %: ${below.join(", ")}.`}
${unmeasured.length === 0 ? "" : `\nNot measured yet (in stryker.config.mjs, but no run has mutated them): ${unmeasured.join(", ")}.\n`}
## Equivalent survivors

| where | mutant | why no test can tell it apart |
| --- | --- | --- |
${equivalents.join("\n") || "| - | none | |"}

## Survivors not yet killed or explained

| where | mutant |
| --- | --- |
${survivors.join("\n") || "| - | none |"}

## Runs

| started (UTC) | took | command | tests per mutant from | load average before / after (1, 5, 15 min) |
| --- | --- | --- | --- | --- |
${runs
  .map(
    (run) =>
      `| ${run.startedAt.slice(0, 19).replace("T", " ")} | ${formatDuration(run.durationMs)} | \`npm run mutation${run.args.length ? ` -- ${cell(run.args.join(" "))}` : ""}\` | ${run.mutationTests ? `MUTATION_TESTS=${cell(run.mutationTests)}` : "vitest.mutation.config.ts (related files)"} | ${run.loadBefore.map((value) => value.toFixed(1)).join(", ")} / ${run.loadAfter.map((value) => value.toFixed(1)).join(", ")} |`,
  )
  .join("\n")}
`;
}

const args = process.argv.slice(2);
const reportOnly = args.includes("--report-only");
if (!reportOnly) runStryker(args);
writeFileSync(mutationReportPath, renderReport(latestPerModule(loadRuns()), await configuredModules()));
console.log(`wrote ${mutationReportPath}`);
