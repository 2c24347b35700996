import { configCommand } from "../../config/command.ts";
import { bridgeConfigSpec } from "../../config/schema/bridge.ts";
import type { CliCommand } from "../../platform/cli.ts";

/** The operator's commands. `run` (the server) is added by main.ts, the composition root. */
export const bridgeToolCommands: CliCommand[] = [configCommand(bridgeConfigSpec)];
