import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { z } from "zod";
import { effectiveEntries } from "../../config/effective.ts";
import { type ConfigProblem, envNameFor, loadConfig, type ProgramConfigSpec } from "../../config/load.ts";
import { formatProblems } from "../../config/report.ts";
import { agentConfigSpec } from "../../config/schema/agent.ts";
import { bridgeConfigSpec } from "../../config/schema/bridge.ts";
import {
  agentConfigObject,
  agentSecret,
  bridgeConfigObject,
  bridgeSeqrSecret,
  tempDir,
  writeConfig,
} from "./fixtures.ts";

/** The same behaviour is required of both programs, so every case runs for each. */
interface ProgramCase {
  spec: ProgramConfigSpec<z.ZodType>;
  valid: () => Record<string, unknown>;
  /** A required key, removed to make the config invalid. */
  required: [string, string];
  /** A key holding a URL. */
  urlKey: [string, string];
  /** A numeric key and its env path. */
  numberKey: [string, string];
  /** A secret key, its value in valid(), and its dotted path. */
  secret: { path: [string, string]; value: string };
}

const programs: ProgramCase[] = [
  {
    spec: agentConfigSpec as unknown as ProgramConfigSpec<z.ZodType>,
    valid: agentConfigObject,
    required: ["machine", "id"],
    urlKey: ["mqtt", "url"],
    numberKey: ["mqtt", "keepaliveSeconds"],
    secret: { path: ["mqtt", "password"], value: agentSecret },
  },
  {
    spec: bridgeConfigSpec as unknown as ProgramConfigSpec<z.ZodType>,
    valid: bridgeConfigObject,
    required: ["seqr", "terminalId"],
    urlKey: ["seqr", "endpointUrl"],
    numberKey: ["seqr", "requestTimeoutMs"],
    secret: { path: ["seqr", "password"], value: bridgeSeqrSecret },
  },
];

function section(config: Record<string, unknown>, key: string): Record<string, unknown> {
  config[key] ??= {};
  return config[key] as Record<string, unknown>;
}

function problemsOf(spec: ProgramConfigSpec<z.ZodType>, file: string, env: NodeJS.ProcessEnv = {}): ConfigProblem[] {
  const result = loadConfig(spec, { file, env });
  if (result.ok) throw new Error("expected the config to be invalid");
  return result.problems;
}

describe.each(programs)("$spec.program configuration", (program) => {
  const { spec } = program;

  it("accepts a minimal valid file and fills every default", () => {
    const result = loadConfig(spec, { file: writeConfig(program.valid()), env: {} });
    expect(result.ok).toBe(true);
  });

  it("reports a missing required key with its path", () => {
    const config = program.valid();
    const [outer, inner] = program.required;
    delete section(config, outer)[inner];
    const problems = problemsOf(spec, writeConfig(config));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({
      path: `${outer}.${inner}`,
      message: "required key is missing",
      source: undefined,
    });
    expect(problems[0]?.expected).not.toBe("");
  });

  it("reports a wrong type with the offending value and the file it came from", () => {
    const config = program.valid();
    const [outer, inner] = program.numberKey;
    section(config, outer)[inner] = "soon";
    const file = writeConfig(config);
    const [problem] = problemsOf(spec, file);
    expect(problem).toMatchObject({ path: `${outer}.${inner}`, value: "soon", source: { kind: "file", file } });
    expect(problem?.message).toMatch(/expected number/);
  });

  it("reports an unknown key (a typo) instead of ignoring it", () => {
    const config = program.valid();
    const [outer] = program.urlKey;
    section(config, outer).colour = "red";
    const [problem] = problemsOf(spec, writeConfig(config));
    expect(problem).toMatchObject({ path: `${outer}.colour`, message: "unknown key" });
  });

  it("reports a malformed URL", () => {
    const config = program.valid();
    const [outer, inner] = program.urlKey;
    section(config, outer)[inner] = "htp:/nowhere";
    const [problem] = problemsOf(spec, writeConfig(config));
    expect(problem).toMatchObject({ path: `${outer}.${inner}`, value: "htp:/nowhere" });
    expect(problem?.message).toMatch(/must be a URL/);
  });

  it("reports several errors at once", () => {
    const config = program.valid();
    delete section(config, program.required[0])[program.required[1]];
    section(config, program.urlKey[0])[program.urlKey[1]] = "not a url";
    section(config, program.numberKey[0])[program.numberKey[1]] = "soon";
    config.bogus = true;
    const problems = problemsOf(spec, writeConfig(config));
    expect(problems.map((problem) => problem.path).sort()).toEqual(
      [program.required.join("."), program.urlKey.join("."), program.numberKey.join("."), "bogus"].sort(),
    );
    const report = formatProblems(spec.program, problems);
    for (const problem of problems) expect(report).toContain(problem.path);
  });

  it("lets an environment variable override the file, and says so", () => {
    const name = envNameFor(spec.program, program.numberKey);
    const result = loadConfig(spec, { file: writeConfig(program.valid()), env: { [name]: "42" } });
    if (!result.ok) throw new Error(JSON.stringify(result.problems));
    const [outer, inner] = program.numberKey;
    expect((result.config as Record<string, Record<string, unknown>>)[outer]?.[inner]).toBe(42);
    expect(result.sources.get(program.numberKey.join("."))).toEqual({ kind: "env", name });
  });

  it("reports a bad environment value with the variable's name", () => {
    const name = envNameFor(spec.program, program.numberKey);
    const [problem] = problemsOf(spec, writeConfig(program.valid()), { [name]: "abc" });
    expect(problem).toMatchObject({ path: program.numberKey.join("."), value: "abc", source: { kind: "env", name } });
  });

  it("reads a secret from a secret file, over the file and the environment", () => {
    const secretsDir = tempDir();
    writeFileSync(join(secretsDir, program.secret.path.join(".")), "from-the-credentials-dir\n");
    const env = { [envNameFor(spec.program, program.secret.path)]: "from-the-environment" };
    const result = loadConfig(spec, { file: writeConfig(program.valid()), env, secretsDir });
    if (!result.ok) throw new Error(JSON.stringify(result.problems));
    const [outer, inner] = program.secret.path;
    expect((result.config as Record<string, Record<string, unknown>>)[outer]?.[inner]).toBe("from-the-credentials-dir");
    expect(result.sources.get(program.secret.path.join("."))?.kind).toBe("secret-file");
  });

  it("never shows a secret in `config show`", () => {
    const result = loadConfig(spec, { file: writeConfig(program.valid()), env: {} });
    if (!result.ok) throw new Error(JSON.stringify(result.problems));
    const entries = effectiveEntries(result.config, result.sources, result.leaves);
    const text = JSON.stringify(entries);
    expect(text).not.toContain(program.secret.value);
    expect(entries.find((entry) => entry.path === program.secret.path.join("."))?.value).toBe("[redacted]");
  });

  it("never shows a secret in an error", () => {
    const config = program.valid();
    const [outer, inner] = program.secret.path;
    // Wrong type carrying the secret text, next to another error: the report must not echo it.
    section(config, outer)[inner] = [program.secret.value];
    section(config, program.urlKey[0])[program.urlKey[1]] = "not a url";
    const problems = problemsOf(spec, writeConfig(config));
    const report = formatProblems(spec.program, problems);
    expect(report).toContain(program.secret.path.join("."));
    expect(report).not.toContain(program.secret.value);
    expect(JSON.stringify(problems)).not.toContain(program.secret.value);
  });

  it("reports an unreadable file and a file that is not a mapping", () => {
    expect(problemsOf(spec, join(tempDir(), "missing.yaml"))[0]?.message).toMatch(/does not exist/);
    expect(problemsOf(spec, writeConfig("- a\n- b\n", "list.yaml"))[0]?.message).toMatch(/mapping/);
    expect(problemsOf(spec, writeConfig("a: [unclosed\n", "broken.yaml"))[0]?.message).toMatch(/cannot parse/);
  });
});

describe("YAML files", () => {
  it("reads YAML as well as JSON, and rejects a key written twice", () => {
    const yaml = [
      "machine: { id: M2, merchantId: acme }",
      `commandKey: ${"cd".repeat(32)}`,
      "catalog:",
      "  currency: SEK",
      "  products:",
      "    '11': { name: Kaffe, sku: K, priceMinor: 2500 }",
    ].join("\n");
    expect(loadConfig(agentConfigSpec, { file: writeConfig(yaml, "agent.yaml"), env: {} }).ok).toBe(true);
    const duplicated = `${yaml}\nmachine: { id: M3, merchantId: acme }\n`;
    const result = loadConfig(agentConfigSpec, { file: writeConfig(duplicated, "dup.yaml"), env: {} });
    expect(result.ok).toBe(false);
  });
});
