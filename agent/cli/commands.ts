import { configCommand } from "../../config/command.ts";
import { agentConfigSpec } from "../../config/schema/agent.ts";
import type { CliCommand } from "../../platform/cli.ts";

/** The technician's commands. `run` (the daemon) is added by main.ts, the composition root. */
export const agentToolCommands: CliCommand[] = [configCommand(agentConfigSpec)];
