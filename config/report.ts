import { redactUrlCredentials } from "../platform/redact.ts";
import type { ConfigProblem, ValueSource } from "./load.ts";

export function describeSource(source: ValueSource | undefined): string {
  if (!source) return "default";
  switch (source.kind) {
    case "default":
      return "default";
    case "file":
      return `file ${source.file}`;
    case "env":
      return `environment ${source.name}`;
    case "secret-file":
      return `secret file ${source.file}`;
  }
}

/** Where a problem's value came from; for a key set nowhere, what made its parent exist (when anything did). */
function describeOrigin(problem: ConfigProblem): string {
  if (problem.source) return describeSource(problem.source);
  const made = problem.parentMadeBy;
  if (made) return `not set; ${made.parent} was made by ${made.sources.map(describeSource).join(", ")}`;
  return "not set in the file, the environment or a secret file";
}

function showValue(value: unknown): string {
  if (value === undefined) return "(missing)";
  const text = typeof value === "string" ? redactUrlCredentials(value) : value;
  const json = JSON.stringify(text);
  return json.length > 80 ? `${json.slice(0, 77)}...` : json;
}

export interface NoConfigFile {
  /** Where the program looked, in order, each with why it was passed over. */
  lookedFor: readonly string[];
  /** Where an installed machine keeps the file (the path to suggest). */
  systemFile: string;
}

/**
 * The "refusing to start" report: every problem at once, each with key, value, source and what is allowed. `noFile`
 * (when no config file was found) names every place a file was looked for, so a newcomer learns where the config
 * belongs instead of only reading a list of missing keys.
 */
export function formatProblems(program: string, problems: readonly ConfigProblem[], noFile?: NoConfigFile): string {
  const lines = [
    `${program}: refusing to start, the configuration is not valid (${problems.length} ${problems.length === 1 ? "error" : "errors"}):`,
  ];
  if (noFile) lines.push(`  no config file found; looked for: ${noFile.lookedFor.join(", ")}`);
  for (const problem of problems) {
    lines.push(`  - ${problem.path || "(file)"}: ${problem.message}`);
    if (problem.value !== undefined) lines.push(`      value: ${showValue(problem.value)}`);
    lines.push(`      from: ${describeOrigin(problem)}`);
    if (problem.expected) lines.push(`      allowed: ${problem.expected}`);
  }
  // Not `config show`: it loads the same configuration and fails with this same report.
  if (noFile) {
    lines.push(
      `Write ${noFile.systemFile} (examples in config/examples/) or pass --config FILE; '${program} config reference' lists every key.`,
    );
  } else lines.push(`'${program} config reference' lists every key and what it allows; see README.md "Configuration".`);
  return lines.join("\n");
}

export function problemsAsJson(problems: readonly ConfigProblem[]): unknown {
  return problems.map((problem) => ({
    path: problem.path,
    value: typeof problem.value === "string" ? redactUrlCredentials(problem.value) : problem.value,
    source: problem.source || !problem.parentMadeBy ? describeSource(problem.source) : describeOrigin(problem),
    message: problem.message,
    expected: problem.expected,
  }));
}
