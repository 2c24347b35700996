import { type ParseArgsConfig, parseArgs } from "node:util";
import { endQuietlyOnBrokenPipe } from "./broken-pipe.ts";
import { ExitCode, type ExitCodeValue } from "./exit-codes.ts";
import { createOutput, type Output } from "./terminal.ts";

/**
 * A small subcommand dispatcher for the two programs' CLIs (`vend-agent <command>`, `vend-bridge <command>`).
 * Parsing is a pure step (argv -> options), so commands are testable without spawning a process.
 */

export interface CliContext {
  program: string;
  /** Arguments after the command name. */
  argv: string[];
  out: Output;
  env: NodeJS.ProcessEnv;
}

export interface CliCommand {
  name: string;
  summary: string;
  usage: string;
  run(context: CliContext): Promise<ExitCodeValue> | ExitCodeValue;
}

/** Options every command understands. */
export const commonOptions = {
  config: { type: "string", short: "c" },
  "secrets-dir": { type: "string" },
  json: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
} as const satisfies ParseArgsConfig["options"];

export class UsageError extends Error {}

/**
 * Parses a command's arguments. Mistakes become a UsageError in our words (which option, what is wrong with it), not
 * Node's parseArgs text; runCli adds the command's usage line.
 */
export function parseCommandArgs<O extends NonNullable<ParseArgsConfig["options"]>>(argv: string[], options: O) {
  const all: NonNullable<ParseArgsConfig["options"]> = { ...commonOptions, ...options };
  const { tokens } = parseArgs({ args: argv, options: all, allowPositionals: true, strict: false, tokens: true });
  for (const token of tokens) {
    if (token.kind !== "option") continue;
    const known = all[token.name];
    if (!known) throw new UsageError(`unknown option ${token.rawName}`);
    if (known.type === "string" && token.value === undefined) throw new UsageError(`${token.rawName} needs a value`);
    if (known.type === "boolean" && token.inlineValue) throw new UsageError(`${token.rawName} takes no value`);
  }
  try {
    return parseArgs({ args: argv, options: { ...commonOptions, ...options }, allowPositionals: true, strict: true });
  } catch (error) {
    // Whatever the checks above missed still ends as a usage error, never a crash.
    throw new UsageError((error as Error).message);
  }
}

/**
 * The command an argument list asks for: "help" for `help`, `--help` or `-h` first, the default command when it is
 * empty or starts with an option, else its first word. (A program can load only what that command needs.)
 */
export function requestedCommand(argv: readonly string[], defaultCommand = "run"): string {
  const first = argv[0];
  if (first === "--help" || first === "-h" || first === "help") return "help";
  return first === undefined || first.startsWith("-") ? defaultCommand : first;
}

export async function runCli(
  program: string,
  commands: readonly CliCommand[],
  argv: string[],
  io: { out?: Output; env?: NodeJS.ProcessEnv } = {},
  defaultCommand = "run",
): Promise<ExitCodeValue> {
  const out = io.out ?? createOutput();
  const env = io.env ?? process.env;
  const name = requestedCommand(argv, defaultCommand);
  if (name === "help") {
    out.line(helpText(program, commands));
    return ExitCode.ok;
  }
  const rest = argv[0] === name ? argv.slice(1) : argv;
  const command = commands.find((candidate) => candidate.name === name);
  if (!command) {
    out.error(`${program}: unknown command '${name}'\n\n${helpText(program, commands)}`);
    return ExitCode.usage;
  }
  // The tools' output is read by people and pipes; the daemon (the default command) keeps Node's own behaviour, so a
  // service never ends with exit 0 because something closed its stdout.
  if (!io.out && command.name !== defaultCommand) endQuietlyOnBrokenPipe(process.stdout);
  if (rest.includes("--help") || rest.includes("-h")) {
    out.line(`usage: ${program} ${command.usage}\n\n${command.summary}`);
    return ExitCode.ok;
  }
  try {
    return await command.run({ program, argv: rest, out, env });
  } catch (error) {
    if (error instanceof UsageError) {
      out.error(`${program} ${command.name}: ${error.message}\nusage: ${program} ${command.usage}`);
      return ExitCode.usage;
    }
    throw error;
  }
}

export function helpText(program: string, commands: readonly CliCommand[]): string {
  const width = Math.max(...commands.map((command) => command.name.length));
  return [
    `usage: ${program} <command> [options]`,
    "",
    "commands:",
    ...commands.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`),
    "",
    `Every command takes --config FILE, --json and --help. Exit codes: 0 ok, 1 check failed, 2 usage, 69 hardware or broker unavailable, 78 config error.`,
  ].join("\n");
}
