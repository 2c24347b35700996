import { existsSync } from "node:fs";
import type { z } from "zod";
import { UsageError } from "../platform/cli.ts";
import { ExitCode, type ExitCodeValue } from "../platform/exit-codes.ts";
import type { Output } from "../platform/terminal.ts";
import { effectiveEntries } from "./effective.ts";
import { checkConfigFiles } from "./file-checks.ts";
import {
  envLeaves,
  envNameFor,
  type LoadOptions,
  type LoadResult,
  loadConfig,
  type ProgramConfigSpec,
} from "./load.ts";
import { describeSource, formatProblems, type NoConfigFile, problemsAsJson } from "./report.ts";
import { walkSchema } from "./schema-walk.ts";

/**
 * Where each program's config lives on an installed machine: the path scripts/install-*.sh write and the systemd units
 * pass with --config, so that a technician's `vend-agent doctor` reads the same file as the service.
 */
export const systemConfigFiles: Readonly<Record<string, string>> = {
  "vend-agent": "/etc/vend-agent/agent.yaml",
  "vend-bridge": "/etc/vend-bridge/bridge.yaml",
};

export function systemConfigFile(program: string): string {
  return systemConfigFiles[program] ?? `/etc/${program}/${program}.yaml`;
}

export function configFileEnvName(program: string): string {
  return `${program.replace(/-/g, "_").toUpperCase()}_CONFIG`;
}

export interface ConfigFileChoice {
  /** The file to read; undefined when none was given and the system file does not exist. */
  file: string | undefined;
  /** Set when no file was found: every place looked at, for an error that tells where a config belongs. */
  noFile?: NoConfigFile;
}

/** Where a program finds its config: --config FILE, then $<PREFIX>CONFIG, then the system file (systemConfigFiles). */
export function resolveConfigFile(
  program: string,
  explicit: string | undefined,
  env: NodeJS.ProcessEnv,
): ConfigFileChoice {
  if (explicit) return { file: explicit };
  const envName = configFileEnvName(program);
  const fromEnv = env[envName];
  if (fromEnv) return { file: fromEnv };
  const systemFile = systemConfigFile(program);
  if (existsSync(systemFile)) return { file: systemFile };
  return {
    file: undefined,
    noFile: { systemFile, lookedFor: ["--config FILE (not given)", `$${envName} (not set)`, `${systemFile} (absent)`] },
  };
}

export interface ConfigSelection {
  configFile?: string | undefined;
  secretsDir?: string | undefined;
  env: NodeJS.ProcessEnv;
}

export function loadOptionsFor(program: string, selection: ConfigSelection): LoadOptions & ConfigFileChoice {
  const choice = resolveConfigFile(program, selection.configFile, selection.env);
  return {
    ...choice,
    env: selection.env,
    secretsDir: selection.secretsDir ?? selection.env.CREDENTIALS_DIRECTORY,
  };
}

/**
 * Loads the config for a program that is about to run; on problems prints the report and returns the exit code
 * (78) so that main() can exit without starting anything.
 */
export function loadOrReport<S extends z.ZodType>(
  spec: ProgramConfigSpec<S>,
  selection: ConfigSelection,
  out: Output,
): { ok: true; config: z.output<S> } | { ok: false; exitCode: ExitCodeValue } {
  const options = loadOptionsFor(spec.program, selection);
  const result = loadConfig(spec, options);
  if (result.ok) return { ok: true, config: result.config };
  out.error(formatProblems(spec.program, result.problems, options.noFile));
  return { ok: false, exitCode: ExitCode.config };
}

/** `<program> config check|show|reference`. A missing or unknown subcommand is a UsageError (exit 2, with the usage). */
export function runConfigCommand<S extends z.ZodType>(
  spec: ProgramConfigSpec<S>,
  subcommand: string | undefined,
  selection: ConfigSelection & { json: boolean },
  out: Output,
): ExitCodeValue {
  if (subcommand === "reference") {
    out.line(configReference(spec));
    return ExitCode.ok;
  }
  if (subcommand !== "check" && subcommand !== "show") {
    throw new UsageError(
      subcommand === undefined
        ? "missing subcommand: check, show or reference"
        : `unknown subcommand '${subcommand}' (check, show or reference)`,
    );
  }
  const options = loadOptionsFor(spec.program, selection);
  const result: LoadResult<z.output<S>> = loadConfig(spec, options);
  if (!result.ok) {
    if (selection.json) {
      out.json({
        ok: false,
        errors: problemsAsJson(result.problems),
        ...(options.noFile ? { lookedFor: options.noFile.lookedFor } : {}),
      });
    } else out.error(formatProblems(spec.program, result.problems, options.noFile));
    return ExitCode.config;
  }
  if (subcommand === "check") {
    const fileProblems = checkConfigFiles(result.config);
    if (fileProblems.length > 0) {
      if (selection.json) out.json({ ok: false, errors: fileProblems, file: options.file ?? null });
      else {
        out.error(`${spec.program}: the configuration names files that will not work:`);
        for (const problem of fileProblems) {
          out.error(`  ${problem.path}${problem.file ? ` (${problem.file})` : ""}: ${problem.message}`);
        }
      }
      return ExitCode.config;
    }
    if (selection.json) out.json({ ok: true, file: options.file ?? null });
    else
      out.line(
        `${out.ok("ok")}: ${options.file ?? "(no config file: defaults and environment)"} is a valid ${spec.program} configuration`,
      );
    return ExitCode.ok;
  }
  const entries = effectiveEntries(result.config, result.sources, result.leaves);
  if (selection.json) {
    out.json(
      Object.fromEntries(
        entries.map((entry) => [entry.path, { value: entry.value, source: describeSource(entry.source) }]),
      ),
    );
  } else {
    const width = Math.min(48, Math.max(...entries.map((entry) => entry.path.length)));
    for (const entry of entries) {
      out.line(
        `${entry.path.padEnd(width)} = ${JSON.stringify(entry.value)}  ${out.dim(`# ${describeSource(entry.source)}`)}`,
      );
    }
  }
  return ExitCode.ok;
}

/** A Markdown reference of every key: description, default, environment variable, secret or not. */
export function configReference<S extends z.ZodType>(spec: ProgramConfigSpec<S>): string {
  const leaves = walkSchema(spec.schema);
  const withEnv = new Set(envLeaves(leaves).map((leaf) => leaf.path.join(".")));
  const lines = [`| key | description | default | environment variable |`, `|---|---|---|---|`];
  for (const leaf of leaves) {
    const key = leaf.path.join(".");
    const def = leaf.hasDefault
      ? `\`${JSON.stringify(leaf.defaultValue)}\``
      : leaf.optional
        ? "(unset)"
        : "**required**";
    const env = withEnv.has(key) ? `\`${envNameFor(spec.program, leaf.path)}\`` : "(file only)";
    const perEntry = leaf.path.includes("*")
      ? ` (one file per entry, \`*\` being its name, e.g. the machine id; a file for an entry the configuration does not define is refused)`
      : "";
    const secret = leaf.secret
      ? ` Secret: redacted in output; also read from \`$CREDENTIALS_DIRECTORY/${key}\`${perEntry}.`
      : "";
    lines.push(`| \`${key}\` | ${leaf.description.replace(/\|/g, "\\|")}${secret} | ${def} | ${env} |`);
  }
  return lines.join("\n");
}
