import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";

/**
 * npm 11 ends `npm ci` with "install scripts not yet covered by allowScripts" for every locked dependency whose
 * install script package.json has not reviewed (npm 12 will skip them). The native ones (better-sqlite3, serialport,
 * epoll, unix-dgram) and esbuild (under tsx) need theirs, so package.json allows them and a newcomer sees no alarm.
 * The lockfile is what `npm ci` installs and what marks the scripts (hasInstallScript), so it is the list to cover;
 * `npm install-scripts ls` would instead read whatever node_modules this checkout happens to have.
 */
const root = resolve(import.meta.dirname, "../..");
const read = (file: string) => JSON.parse(readFileSync(resolve(root, file), "utf8"));

describe("package.json allowScripts", () => {
  it("covers every locked dependency that has an install script", () => {
    const lock = read("package-lock.json") as {
      packages: Record<string, { version?: string; hasInstallScript?: boolean }>;
    };
    const allow = (read("package.json") as { allowScripts?: Record<string, boolean> }).allowScripts ?? {};
    const withScripts = Object.entries(lock.packages)
      .filter(([, entry]) => entry.hasInstallScript)
      .map(([path, entry]) => ({ name: path.replace(/^.*node_modules\//, ""), version: entry.version }));
    expect(withScripts.length).toBeGreaterThan(0);
    const uncovered = withScripts.filter(
      ({ name, version }) => allow[name] !== true && allow[`${name}@${version}`] !== true,
    );
    expect(uncovered).toEqual([]);
  });
});
