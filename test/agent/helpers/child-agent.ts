/**
 * A child-process agent for crash tests: the real composition (config loader, journal with the env crash hook, MQTT
 * link, session) around a FakeMechanism that the parent drives over IPC and that writes every physical vend to a
 * ledger file (fsync'd before the "motor turns"). Run: node --import tsx test/agent/helpers/child-agent.ts <config>
 * with VEND_AGENT_LEDGER=<file> and optionally VEND_AGENT_CRASH_AT=<point>[:n] and VEND_AGENT_VEND_MS.
 */

import { crashHookFromEnv } from "../../../agent/journal/crash-hook.ts";
import { runAgent } from "../../../agent/run-agent.ts";
import { loadConfig } from "../../../config/load.ts";
import { agentConfigSpec } from "../../../config/schema/agent.ts";
import { createLogger } from "../../../platform/logger.ts";
import { FakeMechanism } from "./fake-mechanism.ts";

const configFile = process.argv[2];
const loaded = loadConfig(agentConfigSpec, { file: configFile, env: {}, secretsDir: undefined });
if (!loaded.ok) {
  console.error(JSON.stringify(loaded.problems));
  process.exit(78);
}
const mechanism = new FakeMechanism({
  vendMs: Number(process.env.VEND_AGENT_VEND_MS ?? "20"),
  ledgerFile: process.env.VEND_AGENT_LEDGER,
});
process.on("message", (message: { select?: string; close?: boolean }) => {
  if (message.select) mechanism.select({ selection: message.select });
  if (message.close) mechanism.emit("sessionClosedByMachine", "customer");
});
const logger = createLogger({ name: "vend-agent", level: "info" });
const code = await runAgent({
  config: loaded.config,
  logger,
  mechanism,
  journalHooks: crashHookFromEnv(process.env.VEND_AGENT_CRASH_AT),
  onStarted: () => process.send?.({ started: true }),
});
process.exit(code);
