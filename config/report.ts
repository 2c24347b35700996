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

function showValue(value: unknown): string {
  if (value === undefined) return "(missing)";
  const text = typeof value === "string" ? redactUrlCredentials(value) : value;
  const json = JSON.stringify(text);
  return json.length > 80 ? `${json.slice(0, 77)}...` : json;
}

/** The "refusing to start" report: every problem at once, each with key, value, source and what is allowed. */
export function formatProblems(program: string, problems: readonly ConfigProblem[]): string {
  const lines = [
    `${program}: refusing to start, the configuration is not valid (${problems.length} ${problems.length === 1 ? "error" : "errors"}):`,
  ];
  for (const problem of problems) {
    lines.push(`  - ${problem.path || "(file)"}: ${problem.message}`);
    if (problem.value !== undefined) lines.push(`      value: ${showValue(problem.value)}`);
    lines.push(
      `      from: ${problem.source ? describeSource(problem.source) : "not set in the file, the environment or a secret file"}`,
    );
    if (problem.expected) lines.push(`      allowed: ${problem.expected}`);
  }
  lines.push(`Run '${program} config show' to see the effective configuration, or see README.md "Configuration".`);
  return lines.join("\n");
}

export function problemsAsJson(problems: readonly ConfigProblem[]): unknown {
  return problems.map((problem) => ({
    path: problem.path,
    value: typeof problem.value === "string" ? redactUrlCredentials(problem.value) : problem.value,
    source: describeSource(problem.source),
    message: problem.message,
    expected: problem.expected,
  }));
}
