/**
 * Test-only preload: `node --import tsx --import test/agent/helpers/module-log-preload.ts agent/main.ts run` with
 * MODULE_LOG=<file> appends the file URL of every module the process loads to that file: ES modules as the loader
 * loads them (module-log-hooks.ts), CommonJS ones from the require cache when the process exits. A test reads it to
 * see which drivers, renderers and libraries a configuration made the agent load.
 */
import { appendFileSync } from "node:fs";
import { createRequire, register } from "node:module";
import { pathToFileURL } from "node:url";

const file = process.env.MODULE_LOG;
if (file) {
  register(new URL("./module-log-hooks.ts", import.meta.url), { data: { file } });
  const requireCache = createRequire(import.meta.url).cache;
  process.on("exit", () => {
    const urls = Object.keys(requireCache).map((path) => `${pathToFileURL(path).href}\n`);
    appendFileSync(file, urls.join(""));
  });
}
