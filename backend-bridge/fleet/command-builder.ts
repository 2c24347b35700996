import { randomUUID } from "node:crypto";
import { type CommandName, type CommandPayload, commandSchemas } from "../../protocol/messages.ts";
import { signCommand } from "../../protocol/signing.ts";
import type { CommandBody } from "./fleet-link.ts";

/**
 * Builds a command as it goes on the wire: the envelope (a random commandId unless the caller gives one, issuedAt,
 * expiresAt = issuedAt + ttl), the signature (every command is signed), then the contract's schema as a last check,
 * so that the bridge never publishes a payload the agent would reject as invalid.
 */
export interface BuildCommandInput<N extends CommandName> {
  machineId: string;
  name: N;
  body: CommandBody<N>;
  now: number;
  ttlMs: number;
  commandId?: string;
  /** Hex key of the machine; every command is signed, so it is required. */
  commandKey?: string;
}

export class CommandBuildError extends Error {
  override name = "CommandBuildError";
}

export function newCommandId(): string {
  return randomUUID();
}

export function buildCommand<N extends CommandName>(input: BuildCommandInput<N>): CommandPayload<N> {
  if (!Number.isInteger(input.ttlMs) || input.ttlMs <= 0)
    throw new CommandBuildError("ttlMs must be a positive integer");
  const unsigned: Record<string, unknown> = {
    ...(input.body as Record<string, unknown>),
    commandId: input.commandId ?? newCommandId(),
    issuedAt: input.now,
    expiresAt: input.now + input.ttlMs,
  };
  delete unsigned.signature;
  if (!input.commandKey)
    throw new CommandBuildError(`no command key for machine ${input.machineId}: cannot sign ${input.name}`);
  const payload = { ...unsigned, signature: signCommand(input.commandKey, input.machineId, input.name, unsigned) };
  const parsed = commandSchemas[input.name].safeParse(payload);
  if (!parsed.success) {
    const detail = parsed.error.issues
      .map((issue) => `${issue.path.join(".") || "(payload)"}: ${issue.message}`)
      .join("; ");
    throw new CommandBuildError(`invalid ${input.name} command for ${input.machineId}: ${detail}`);
  }
  // Publish what was signed (not zod's output, which could differ in key order or stripped keys).
  return payload as CommandPayload<N>;
}
