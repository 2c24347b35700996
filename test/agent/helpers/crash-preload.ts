/**
 * Test-only preload for crash tests: `node --import tsx --import test/agent/helpers/crash-preload.ts agent/main.ts run`
 * with `VEND_AGENT_CRASH_AT=<write point>[:n]` installs the crash hook through the journal's seam
 * (agent/journal/journal-hooks.ts) before main.ts runs, so the production binary itself never reads the variable.
 */
import { installJournalHooks } from "../../../agent/journal/journal-hooks.ts";
import { crashHookFromEnv } from "./crash-hook.ts";

const hooks = crashHookFromEnv(process.env.VEND_AGENT_CRASH_AT);
if (hooks) installJournalHooks(hooks);
