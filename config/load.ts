import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import type { z } from "zod";
import { type LeafInfo, pathMatches, walkSchema } from "./schema-walk.ts";

/**
 * Loads a program's configuration: defaults < file (YAML or JSON) < environment variables < secret files.
 * Every value remembers where it came from, so that `config show` can tell and errors can point at the source.
 * Nothing here throws for bad input: all problems come back together as `ConfigProblem`s.
 */

export type ValueSource =
  | { kind: "default" }
  | { kind: "file"; file: string }
  | { kind: "env"; name: string }
  | { kind: "secret-file"; file: string };

export interface ConfigProblem {
  /** Dotted key path, e.g. `mqtt.url`; empty for the whole file. */
  path: string;
  /** The offending value as given (already redacted when the key is a secret), or undefined when missing. */
  value: unknown;
  source: ValueSource | undefined;
  /**
   * When the key itself was set nowhere: the sources that made its parent exist (an environment variable that sets
   * `broker.tcp.port` creates `broker` without `broker.mode`), so the report points at the real cause.
   */
  parentMadeBy?: { parent: string; sources: ValueSource[] };
  message: string;
  /** What is allowed, from the key's description. */
  expected: string;
}

export interface ProgramConfigSpec<S extends z.ZodType> {
  /** Program name, e.g. "vend-agent"; also the prefix of environment variables (VEND_AGENT_...). */
  program: string;
  schema: S;
}

export interface LoadOptions {
  /** Path of the config file; when absent, no file is read. */
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Directory of secret files, one per secret key named by its dotted path (systemd's $CREDENTIALS_DIRECTORY). */
  secretsDir?: string | undefined;
}

export type LoadResult<T> =
  | { ok: true; config: T; sources: Map<string, ValueSource>; leaves: LeafInfo[] }
  | { ok: false; problems: ConfigProblem[]; leaves: LeafInfo[] };

export function envPrefix(program: string): string {
  return `${program.replace(/[^A-Za-z0-9]+/g, "_").toUpperCase()}_`;
}

/** `mqtt.tls.caFile` -> `VEND_AGENT_MQTT__TLS__CA_FILE` */
export function envNameFor(program: string, path: readonly string[]): string {
  const segments = path.map((segment) => segment.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase());
  return `${envPrefix(program)}${segments.join("__")}`;
}

/** Leaves that can be set from the environment: scalars outside records and arrays. */
export function envLeaves(leaves: readonly LeafInfo[]): LeafInfo[] {
  return leaves.filter((leaf) => !leaf.path.includes("*") && leaf.kind !== "other");
}

export function loadConfig<S extends z.ZodType>(
  spec: ProgramConfigSpec<S>,
  options: LoadOptions,
): LoadResult<z.output<S>> {
  const leaves = walkSchema(spec.schema);
  const sources = new Map<string, ValueSource>();
  const problems: ConfigProblem[] = [];
  let raw: Record<string, unknown> = {};

  if (options.file !== undefined) {
    const loaded = readConfigFile(options.file);
    if ("problem" in loaded) return { ok: false, problems: [loaded.problem], leaves };
    raw = loaded.data;
    recordSources(raw, [], { kind: "file", file: options.file }, sources);
  }

  const env = options.env ?? process.env;
  for (const leaf of envLeaves(leaves)) {
    const name = envNameFor(spec.program, leaf.path);
    const text = env[name];
    if (text === undefined) continue;
    setPath(raw, leaf.path, coerceEnvValue(text, leaf.kind));
    sources.set(leaf.path.join("."), { kind: "env", name });
  }

  if (options.secretsDir !== undefined) readSecretFiles(options.secretsDir, leaves, raw, sources, problems);
  if (problems.length > 0) return { ok: false, problems, leaves };

  const parsed = spec.schema.safeParse(raw, { reportInput: true });
  if (!parsed.success) {
    return { ok: false, problems: describeIssues(parsed.error.issues, leaves, sources), leaves };
  }
  return { ok: true, config: parsed.data, sources, leaves };
}

/** A secret file's value: its content without one final line end (LF, or CRLF from a file written on Windows). */
function readSecretFile(file: string): string {
  return readFileSync(file, "utf8").replace(/\r?\n$/, "");
}

/**
 * Secret files (systemd's $CREDENTIALS_DIRECTORY): one file per secret key, named by its dotted path. A key under a
 * map (`machines.*.commandKey`) is read from the file that names the map entry (`machines.M1.commandKey`, the machine
 * id may itself hold dots); a file for an entry the configuration does not define is refused, since a key for a
 * machine nobody configured is a typo or a leftover, never something to apply silently.
 */
function readSecretFiles(
  secretsDir: string,
  leaves: readonly LeafInfo[],
  raw: Record<string, unknown>,
  sources: Map<string, ValueSource>,
  problems: ConfigProblem[],
): void {
  const apply = (leaf: LeafInfo, path: readonly string[], file: string) => {
    try {
      setPath(raw, path, readSecretFile(file));
      sources.set(path.join("."), { kind: "secret-file", file });
    } catch (error) {
      problems.push({
        path: path.join("."),
        value: undefined,
        source: { kind: "secret-file", file },
        message: `cannot read the secret file: ${(error as Error).message}`,
        expected: leaf.description,
      });
    }
  };
  for (const leaf of leaves.filter((candidate) => candidate.secret && !candidate.path.includes("*"))) {
    const file = join(secretsDir, leaf.path.join("."));
    if (existsSync(file)) apply(leaf, leaf.path, file);
  }
  const mapped = leaves.filter(
    (candidate) => candidate.secret && candidate.path.filter((segment) => segment === "*").length === 1,
  );
  if (mapped.length === 0) return;
  let names: string[];
  try {
    names = readdirSync(secretsDir);
  } catch {
    return; // no directory: no secret files, as for the keys above
  }
  for (const leaf of mapped) {
    const star = leaf.path.indexOf("*");
    const prefix = `${leaf.path.slice(0, star).join(".")}.`;
    const suffix = `.${leaf.path.slice(star + 1).join(".")}`;
    for (const name of names) {
      if (!name.startsWith(prefix) || !name.endsWith(suffix) || name.length <= prefix.length + suffix.length) continue;
      const entry = name.slice(prefix.length, name.length - suffix.length);
      const path = [...leaf.path.slice(0, star), entry, ...leaf.path.slice(star + 1)];
      const file = join(secretsDir, name);
      const map = getPath(raw, leaf.path.slice(0, star));
      if (map === null || typeof map !== "object" || !Object.hasOwn(map, entry)) {
        problems.push({
          path: path.join("."),
          value: undefined,
          source: { kind: "secret-file", file },
          message: `${prefix}${entry} is not in the configuration: the secret file ${name} has nothing to apply to`,
          expected: leaf.description,
        });
        continue;
      }
      apply(leaf, path, file);
    }
  }
}

function getPath(target: Record<string, unknown>, path: readonly string[]): unknown {
  let node: unknown = target;
  for (const segment of path) {
    if (node === null || typeof node !== "object") return undefined;
    node = (node as Record<string, unknown>)[segment];
  }
  return node;
}

function readConfigFile(file: string): { data: Record<string, unknown> } | { problem: ConfigProblem } {
  const source: ValueSource = { kind: "file", file };
  const fail = (message: string) => ({
    problem: {
      path: "",
      value: undefined,
      source,
      message,
      expected: "a readable YAML or JSON file holding one mapping",
    },
  });
  if (!existsSync(file)) return fail(`the config file ${file} does not exist`);
  if (!statSync(file).isFile()) return fail(`${file} is not a file`);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    return fail(`cannot read ${file}: ${(error as Error).message}`);
  }
  let data: unknown;
  try {
    // YAML 1.2 is a superset of JSON, so one parser reads both; uniqueKeys rejects a key written twice.
    data = text.trim() === "" ? {} : parseYaml(text, { uniqueKeys: true, prettyErrors: true });
  } catch (error) {
    return fail(`cannot parse ${file}: ${(error as Error).message.split("\n")[0]}`);
  }
  if (data === null || data === undefined) return { data: {} };
  if (typeof data !== "object" || Array.isArray(data))
    return fail(`${file} must hold a mapping of keys, not a ${Array.isArray(data) ? "list" : typeof data}`);
  return { data: data as Record<string, unknown> };
}

/** Records the source of every node given (not only leaves), so an error on an empty mapping finds its file. */
function recordSources(value: unknown, path: string[], source: ValueSource, sources: Map<string, ValueSource>): void {
  if (path.length > 0) sources.set(path.join("."), source);
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    for (const [key, child] of Object.entries(value)) recordSources(child, [...path, key], source, sources);
  }
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const segment of path.slice(0, -1)) {
    const next = node[segment];
    if (next === null || typeof next !== "object" || Array.isArray(next)) node[segment] = {};
    node = node[segment] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

function coerceEnvValue(text: string, kind: LeafInfo["kind"]): unknown {
  if (kind === "number" && /^-?\d+(\.\d+)?$/.test(text.trim())) return Number(text.trim());
  if (kind === "boolean") {
    const lowered = text.trim().toLowerCase();
    if (["true", "1", "yes", "on"].includes(lowered)) return true;
    if (["false", "0", "no", "off"].includes(lowered)) return false;
  }
  // Anything else stays a string, so that the schema reports it as the wrong type with its env source.
  return text;
}

export function isSecretPath(leaves: readonly LeafInfo[], path: readonly (string | number)[]): boolean {
  return leaves.some(
    (leaf) => leaf.secret && path.length >= leaf.path.length && pathMatches(leaf.path, path.slice(0, leaf.path.length)),
  );
}

export function sourceOf(
  sources: Map<string, ValueSource>,
  path: readonly (string | number)[],
): ValueSource | undefined {
  for (let length = path.length; length >= 0; length--) {
    const found = sources.get(path.slice(0, length).join("."));
    if (found) return found;
  }
  return undefined;
}

/** The distinct sources of the keys under `parent` (not the top level: that would be every source there is). */
function sourcesBelow(
  sources: Map<string, ValueSource>,
  parent: readonly string[],
): { parent: string; sources: ValueSource[] } | undefined {
  if (parent.length === 0) return undefined;
  const prefix = `${parent.join(".")}.`;
  const found = new Map<string, ValueSource>();
  for (const [key, source] of sources) {
    if (key.startsWith(prefix)) found.set(JSON.stringify(source), source);
  }
  return found.size > 0 ? { parent: parent.join("."), sources: [...found.values()] } : undefined;
}

function leafFor(leaves: readonly LeafInfo[], path: readonly (string | number)[]): LeafInfo | undefined {
  return leaves.find((leaf) => pathMatches(leaf.path, path));
}

function describeIssues(
  issues: readonly z.core.$ZodIssue[],
  leaves: readonly LeafInfo[],
  sources: Map<string, ValueSource>,
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const issue of issues) {
    const path = issue.path.map(String);
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        const full = [...path, key];
        problems.push({
          path: full.join("."),
          value: undefined,
          source: sourceOf(sources, full),
          message: "unknown key",
          expected: `one of the keys of ${path.length ? path.join(".") : "the top level"}; check the spelling`,
        });
      }
      continue;
    }
    if (issue.code === "invalid_union" && issue.errors.length > 0 && issue.errors.every((e) => e.length > 0)) {
      // A discriminated union whose discriminator matched no variant; zod reports the variants' issues.
      const note = (issue as { note?: string }).note;
      if (!note) {
        const best = [...issue.errors].sort((a, b) => a.length - b.length)[0] ?? [];
        problems.push(
          ...describeIssues(
            best.map((nested) => ({ ...nested, path: [...issue.path, ...nested.path] })),
            leaves,
            sources,
          ),
        );
        continue;
      }
    }
    const leaf = leafFor(leaves, path);
    const input = (issue as { input?: unknown }).input;
    // A cross-key check (schema superRefine) names a key that is absent with params.missingKey: its input is the
    // mapping that holds the key, not a value of it.
    const missingKey = issue.code === "custom" && issue.params?.missingKey === true;
    const missing = (input === undefined && issue.code === "invalid_type") || missingKey;
    const source = missing ? undefined : sourceOf(sources, path);
    const parentMadeBy = source ? undefined : sourcesBelow(sources, path.slice(0, -1));
    problems.push({
      path: path.join("."),
      value: missingKey
        ? undefined
        : isSecretPath(leaves, path)
          ? input === undefined
            ? undefined
            : "[redacted]"
          : input,
      source,
      ...(parentMadeBy ? { parentMadeBy } : {}),
      message: missing && !missingKey ? "required key is missing" : issue.message,
      expected: leaf?.description ?? "",
    });
  }
  return problems;
}
