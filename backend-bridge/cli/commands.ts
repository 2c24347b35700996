import { configCommand } from "../../config/command.ts";
import { bridgeConfigSpec } from "../../config/schema/bridge.ts";
import type { CliCommand } from "../../platform/cli.ts";
import { operatorsCommand } from "../console/operators-command.ts";
import { purchasesCommand } from "../operator/purchases-command.ts";
import { refundCommand } from "../operator/refund-command.ts";
import { reportCommand } from "../operator/report-command.ts";
import { machinesCommand } from "../registry/machines-command.ts";
import { sandboxCommand } from "../sandbox/sandbox-command.ts";

/** The operator's commands. `run` (the server) is added by main.ts, the composition root. */
export const bridgeToolCommands: CliCommand[] = [
  configCommand(bridgeConfigSpec),
  sandboxCommand,
  machinesCommand,
  purchasesCommand,
  refundCommand,
  operatorsCommand(),
  reportCommand(),
];
