import { spawn } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

/**
 * The README's `npx vend-agent doctor` on a fresh clone: `npm ci` runs the package's `prepare` script and nothing else,
 * so that script must leave both bins runnable. The test works on a copy of the sources (the repository's dist/ is
 * left alone, so parallel test runs cannot trip over each other's build) with the installed node_modules linked in,
 * and an empty npx cache, as a newcomer has.
 */

const repo = resolve(import.meta.dirname, "../..");
const copy = mkdtempSync(join(tmpdir(), "seqr-vend-npx-"));
afterAll(() => rmSync(copy, { recursive: true, force: true, maxRetries: 5 }));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], timeoutMs: number): Promise<Run> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(command, args, {
      cwd: copy,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        NO_COLOR: "1",
        npm_config_cache: join(copy, ".npm-cache"),
        npm_config_update_notifier: "false",
      },
      stdio: ["ignore", "pipe", "pipe"],
      // Its own process group, so that a timeout ends npm's children too and none keeps writing into the copy.
      detached: true,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
    });
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      reject(new Error(`${command} ${args.join(" ")} did not finish in ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolveRun({ code, stdout, stderr });
    });
  });
}

describe("npx vend-agent / vend-bridge after npm ci", () => {
  it("the prepare step npm ci runs builds both bins executable, and npx runs them", { timeout: 900_000 }, async () => {
    const build = JSON.parse(readFileSync(join(repo, "tsconfig.build.json"), "utf8")) as { include: string[] };
    for (const item of [
      ...build.include,
      "package.json",
      "package-lock.json",
      "tsconfig.json",
      "tsconfig.build.json",
    ]) {
      cpSync(join(repo, item), join(copy, item), { recursive: true });
    }
    symlinkSync(join(repo, "node_modules"), join(copy, "node_modules"));

    // What `npm ci` runs for the project itself once the dependencies are in place.
    const prepared = await run("npm", ["run", "prepare", "--if-present"], 240_000);
    expect(prepared.code, prepared.stderr).toBe(0);

    const bins = (JSON.parse(readFileSync(join(copy, "package.json"), "utf8")) as { bin: Record<string, string> }).bin;
    expect(Object.keys(bins).sort()).toEqual(["vend-agent", "vend-bridge"]);
    for (const [name, file] of Object.entries(bins)) {
      const path = join(copy, file);
      expect(readFileSync(path, "utf8").startsWith("#!/usr/bin/env node\n"), `${file} starts with a shebang`).toBe(
        true,
      );
      expect(statSync(path).mode & 0o111, `${file} is executable`).toBe(0o111);
      // Offline: the project's own bin needs nothing from the registry.
      // The first npx call sets up its cache (over a minute on a loaded 2-core machine).
      const result = await run("npx", ["--offline", name, "--help"], 300_000);
      expect(result.code, `npx ${name} --help\n${result.stdout}\n${result.stderr}`).toBe(0);
      expect(result.stdout).toContain(`usage: ${name} <command> [options]`);
    }
  });
});
