import { appendFileSync } from "node:fs";
import type { InitializeHook, LoadHook } from "node:module";

/** Loader hooks of module-log-preload.ts (they run on the loader's thread): one line per ES module loaded. */
let logFile = "";

export const initialize: InitializeHook<{ file: string }> = (data) => {
  logFile = data.file;
};

export const load: LoadHook = (url, context, nextLoad) => {
  appendFileSync(logFile, `${url}\n`);
  return nextLoad(url, context);
};
