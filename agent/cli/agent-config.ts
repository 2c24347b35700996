import { loadOrReport } from "../../config/cli.ts";
import { type AgentConfig, agentConfigSpec } from "../../config/schema/agent.ts";
import type { ExitCodeValue } from "../../platform/exit-codes.ts";
import type { Output } from "../../platform/terminal.ts";

/** Loads the agent's config for a technician command; on problems they are printed and the exit code (78) returned. */
export function loadAgentConfig(
  values: { config?: string | undefined; "secrets-dir"?: string | undefined },
  env: NodeJS.ProcessEnv,
  out: Output,
): { ok: true; config: AgentConfig } | { ok: false; exitCode: ExitCodeValue } {
  return loadOrReport(agentConfigSpec, { configFile: values.config, secretsDir: values["secrets-dir"], env }, out);
}
