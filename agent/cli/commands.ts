import { configCommand } from "../../config/command.ts";
import { agentConfigSpec } from "../../config/schema/agent.ts";
import type { CliCommand } from "../../platform/cli.ts";
import { journalCommand } from "../journal/journal-command.ts";
import { doctorCommand } from "./doctor-command.ts";
import { mqttCommand } from "./mqtt-command.ts";
import { portsCommand } from "./ports-command.ts";
import { qrCommand } from "./qr-command.ts";
import { testVendCommand } from "./test-vend-command.ts";

/** The technician's commands. `run` (the daemon) is added by main.ts, the composition root. */
export const agentToolCommands: CliCommand[] = [
  configCommand(agentConfigSpec),
  qrCommand,
  portsCommand(),
  testVendCommand(),
  mqttCommand(),
  doctorCommand(),
  journalCommand,
];
