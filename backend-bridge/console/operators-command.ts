import { tokenId } from "../../config/field.ts";
import { type CliCommand, parseCommandArgs, UsageError } from "../../platform/cli.ts";
import { systemClock } from "../../platform/clock.ts";
import { ExitCode } from "../../platform/exit-codes.ts";
import { hashPassword, type ScryptCost } from "../broker/password-hash.ts";
import { withOperatorStore } from "../operator/operator-store.ts";
import { readPasswordFromStdin } from "./read-password.ts";

/** Shorter passwords are refused: the console moves money (refunds), and its login is the only thing in front of it. */
export const minimumPasswordLength = 12;

export interface OperatorsCommandOptions {
  readPassword?: (prompt: string) => Promise<string>;
  /** Tests lower the scrypt cost. */
  scryptCost?: ScryptCost;
}

/**
 * `vend-bridge operators add|remove|list`: the web console's accounts in the store. `add` sets the password of a new
 * or existing operator (read from stdin, never from the command line); the store keeps only its scrypt hash.
 */
export function operatorsCommand(options: OperatorsCommandOptions = {}): CliCommand {
  const readPassword = options.readPassword ?? readPasswordFromStdin;
  return {
    name: "operators",
    summary: "add (or set the password of), remove or list the web console's operators",
    usage: "operators add <name> | operators remove <name> | operators list [--json]   (all take --config FILE)",
    run: async ({ argv, out, env }) => {
      const { values, positionals } = parseCommandArgs(argv, {});
      const [action, name, extra] = positionals;
      const actions = ["add", "remove", "list"];
      if (action === undefined || !actions.includes(action)) {
        throw new UsageError(`${action === undefined ? "missing" : `unknown`} subcommand: ${actions.join(", ")}`);
      }
      if (extra !== undefined || (action === "list" && name !== undefined)) {
        throw new UsageError(`unexpected argument '${extra ?? name}'`);
      }
      if (action !== "list") {
        if (name === undefined) throw new UsageError(`${action} needs the operator's name`);
        if (!tokenId.safeParse(name).success) {
          throw new UsageError(`'${name}' is not an operator name: 1-32 characters of A-Z, a-z, 0-9, '.', '_' or '-'`);
        }
      }
      if (action === "list") {
        return withOperatorStore({ out, env }, values, async (store) => {
          const operators = (await store.listOperators()).map(({ name, createdAt, updatedAt }) => ({
            name,
            createdAt: new Date(createdAt).toISOString(),
            passwordSetAt: new Date(updatedAt).toISOString(),
          }));
          if (values.json) out.json(operators);
          else for (const each of operators) out.line(`${each.name}  password set ${each.passwordSetAt}`);
          return ExitCode.ok;
        });
      }
      if (action === "remove") {
        return withOperatorStore({ out, env }, values, async (store) => {
          if (!(await store.deleteOperator(name as string))) {
            out.error(`no operator '${name}'`);
            return ExitCode.failure;
          }
          out.line(`removed operator ${name}; sessions already open end at their next request`);
          return ExitCode.ok;
        });
      }
      const password = await readPassword(`password for ${name}: `);
      if (password.length < minimumPasswordLength) {
        out.error(`the password must have at least ${minimumPasswordLength} characters`);
        return ExitCode.usage;
      }
      return withOperatorStore({ out, env }, values, async (store) => {
        const existed = (await store.getOperator(name as string)) !== undefined;
        await store.putOperator(name as string, hashPassword(password, options.scryptCost), systemClock.now());
        out.line(existed ? `password of operator ${name} changed` : `added operator ${name}`);
        return ExitCode.ok;
      });
    },
  };
}
