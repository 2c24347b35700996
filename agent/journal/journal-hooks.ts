import type { JournalHooks } from "./journal.ts";

/**
 * The seam for crash tests: a test-only module preloaded with `node --import` (test/agent/helpers/crash-preload.ts)
 * installs journal hooks here before main.ts runs, and main.ts passes whatever is installed to the journal. The
 * production binary installs nothing and reads no test variable; without a preload this returns undefined.
 */
let installed: JournalHooks | undefined;

export function installJournalHooks(hooks: JournalHooks): void {
  installed = hooks;
}

export function installedJournalHooks(): JournalHooks | undefined {
  return installed;
}
