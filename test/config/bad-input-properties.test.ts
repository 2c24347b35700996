import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import YAML from "yaml";
import { loadConfig } from "../../config/load.ts";
import { formatProblems } from "../../config/report.ts";
import { bridgeConfigSpec } from "../../config/schema/bridge.ts";
import { bridgeConfigObject, tempDir } from "./fixtures.ts";

/**
 * Issue 18: config files and secret files of any content get a clear answer (a list of problems, each naming a key
 * and saying what is wrong) and never a crash; a secret's content never appears in that answer.
 */

const fileText = fc.oneof(
  fc.string({ maxLength: 300 }),
  fc.jsonValue({ maxDepth: 4 }).map((value) => JSON.stringify(value)),
  fc.jsonValue({ maxDepth: 4 }).map((value) => YAML.stringify(value)),
  // A valid file with one key replaced by anything.
  fc
    .tuple(fc.constantFrom("http", "seqr", "broker", "callerAuth", "admin", "machines", "store"), fc.jsonValue())
    .map(([key, value]) => JSON.stringify({ ...bridgeConfigObject(), [key]: value })),
  fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes).toString("latin1")),
);

describe("config files of any content", () => {
  it("load to a config or a list of problems naming keys, never a throw", () => {
    const dir = tempDir();
    let index = 0;
    fc.assert(
      fc.property(fileText, (text) => {
        const file = join(dir, `bridge-${index++}.yaml`);
        writeFileSync(file, text);
        const result = loadConfig(bridgeConfigSpec, { file, env: {} });
        if (result.ok) return;
        expect(result.problems.length).toBeGreaterThan(0);
        for (const problem of result.problems) {
          expect(typeof problem.path).toBe("string");
          expect(problem.message.length).toBeGreaterThan(0);
        }
        expect(formatProblems("vend-bridge", result.problems)).toMatch(/^vend-bridge: refusing to start/);
      }),
      { numRuns: 300 },
    );
  });
});

describe("secret files of any content", () => {
  it("apply, or are refused naming the key and never showing the content", () => {
    const dir = tempDir();
    const configFile = join(dir, "bridge.json");
    writeFileSync(
      configFile,
      JSON.stringify({
        ...bridgeConfigObject(),
        machines: {
          M1: {
            commandKey: "ab".repeat(32),
            catalog: { currency: "EUR", products: { A1: { name: "W", sku: "W", priceMinor: 150 } } },
          },
        },
      }),
    );
    let index = 0;
    fc.assert(
      fc.property(
        fc.constantFrom("seqr.password", "machines.M1.commandKey", "callerAuth.password", "machines.M1.mqttPassword"),
        fc.oneof(fc.string({ minLength: 0, maxLength: 80 }), fc.stringMatching(/^[0-9a-f]{0,140}\r?\n?$/)),
        (name, content) => {
          const secretsDir = join(dir, `secrets-${index++}`);
          mkdirSync(secretsDir);
          writeFileSync(join(secretsDir, name), content);
          const result = loadConfig(bridgeConfigSpec, { file: configFile, secretsDir, env: {} });
          const value = content.replace(/\r?\n$/, "");
          if (result.ok) {
            const path = name.split(".");
            let node: unknown = result.config;
            for (const segment of path) node = (node as Record<string, unknown>)[segment];
            expect(node).toBe(value);
            return;
          }
          const report = formatProblems("vend-bridge", result.problems);
          expect(result.problems.map((problem) => problem.path)).toContain(name);
          // The content never shows: long enough to be told apart from the report's own words.
          if (value.length >= 8) expect(report).not.toContain(value);
        },
      ),
      { numRuns: 300 },
    );
  });
});
