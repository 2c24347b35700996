import type { Clock } from "../../platform/clock.ts";
import type { Logger } from "../../platform/logger.ts";
import type { Catalog } from "../../protocol/catalog.ts";
import type { AnyCommand, EventPayload } from "../../protocol/messages.ts";
import type { Outbox } from "../events/outbox.ts";
import type { Journal } from "../journal/journal.ts";
import type { CommandRefusal, VendSession } from "../session/vend-session.ts";
import { checkCommand } from "./validate-command.ts";

/**
 * Receives every message on `<root>/<machineId>/cmd/+`, validates it (validate-command.ts) and routes it. Every
 * refusal, whatever its cause, becomes a `command-rejected` event with the reason, so the backend always learns why.
 */

export interface CommandHandlerOptions {
  machineId: string;
  commandKeyHex: string;
  journal: Journal;
  outbox: Outbox;
  session: VendSession;
  clock: Clock;
  logger: Logger;
  maxFutureSkewMs?: number;
  /** A signed catalog arrived (cmd/config): persist it for the next start. */
  saveCatalog?(catalog: Catalog): Promise<void>;
}

type RejectedBody = Omit<EventPayload<"command-rejected">, "eventId" | "seq" | "ts">;

export class CommandHandler {
  readonly #o: CommandHandlerOptions;
  readonly #log: Logger;
  /** Ping and ack are harmless to repeat, so their ids are remembered in memory only (no fsync per ping). */
  readonly #recentVolatile = new Set<string>();
  /** Commands being handled right now: a duplicate delivery arriving meanwhile is a replay too. */
  readonly #inProgress = new Set<string>();

  constructor(options: CommandHandlerOptions) {
    this.#o = options;
    this.#log = options.logger.child({ module: "commands" });
  }

  /** Handles one message; never throws (a failure is logged and, where possible, reported as an event). */
  async handle(name: string, raw: Buffer): Promise<void> {
    try {
      await this.#handle(name, raw);
    } catch (error) {
      this.#log.error({ err: error, command: name }, "command handling failed");
    }
  }

  async #handle(name: string, raw: Buffer): Promise<void> {
    const journal = this.#o.journal;
    const check = checkCommand(name, raw, {
      machineId: this.#o.machineId,
      commandKeyHex: this.#o.commandKeyHex,
      now: this.#o.clock.now(),
      maxFutureSkewMs: this.#o.maxFutureSkewMs ?? 5 * 60_000,
      wasSeen: (commandId) =>
        journal.state.seenCommands.has(commandId) ||
        this.#recentVolatile.has(commandId) ||
        this.#inProgress.has(commandId),
    });
    if (!check.ok) {
      if (check.reason === "replayed" && name === "unlock" && this.#isOurSession(check.sessionId)) {
        // The backend sent an unlock we already acted on again: it most likely missed our `unlocked` (and what
        // followed), e.g. it restarted. Resending the unacknowledged events is harmless (it deduplicates by eventId).
        this.#log.info({ sessionId: check.sessionId }, "replayed unlock of a session of ours: resending events");
        this.#o.outbox.resendAll();
      }
      await this.#reject(
        {
          sessionId: check.sessionId,
          commandId: check.commandId,
          command: name.slice(0, 64),
          reason: check.reason,
          detail: check.detail,
        },
        check.remember,
      );
      return;
    }
    const command = check.command;
    this.#inProgress.add(command.payload.commandId);
    try {
      await this.#route(command);
    } finally {
      this.#inProgress.delete(command.payload.commandId);
    }
  }

  async #route(command: AnyCommand): Promise<void> {
    const journal = this.#o.journal;
    const seen = { commandId: command.payload.commandId, expiresAt: command.payload.expiresAt };
    this.#log.debug({ command: command.name, commandId: seen.commandId }, "command accepted");
    let refusal: CommandRefusal | undefined;
    switch (command.name) {
      case "ping": {
        this.#rememberVolatile(seen.commandId);
        const events = await journal.commit(
          "event",
          { t: "note" },
          {
            events: [
              {
                name: "pong",
                // The backend re-checks machines it flagged unavailable with ping: the answer says if they sell now.
                body: { sessionId: null, commandId: seen.commandId, ...this.#o.session.serviceStatus() },
              },
            ],
          },
        );
        this.#o.outbox.publish(events);
        return;
      }
      case "ack":
        this.#rememberVolatile(seen.commandId);
        await this.#o.outbox.acknowledge(command.payload.eventIds);
        return;
      case "payment-pending":
        refusal = await this.#o.session.paymentPending(command.payload, seen);
        break;
      case "unlock":
        refusal = await this.#o.session.unlock(command.payload, seen);
        break;
      case "cancel":
        refusal = await this.#o.session.cancel(command.payload, seen);
        break;
      case "config":
        refusal = this.#o.session.setCatalog(command.payload.catalog);
        if (!refusal) {
          await this.#o.saveCatalog?.(command.payload.catalog);
          await journal.commit("event", { t: "note" }, { seen });
          this.#log.info({ products: Object.keys(command.payload.catalog.products).length }, "catalog updated");
        }
        break;
    }
    if (refusal) {
      await this.#reject(
        {
          sessionId: "sessionId" in command.payload ? command.payload.sessionId : null,
          commandId: seen.commandId,
          command: command.name,
          reason: refusal.reason,
          detail: refusal.detail,
        },
        seen,
      );
    }
  }

  async #reject(body: RejectedBody, remember?: { commandId: string; expiresAt: number }): Promise<void> {
    this.#log.warn(
      { command: body.command, commandId: body.commandId, reason: body.reason, detail: body.detail },
      "command refused",
    );
    const events = await this.#o.journal.commit(
      "event",
      { t: "note" },
      {
        events: [{ name: "command-rejected", body: { ...body, detail: body.detail.slice(0, 300) } }],
        ...(remember ? { seen: remember } : {}),
      },
    );
    this.#o.outbox.publish(events);
  }

  /** The open session, or one this machine already ended. */
  #isOurSession(sessionId: string | null): boolean {
    if (sessionId === null) return false;
    const state = this.#o.journal.state;
    return state.session?.sessionId === sessionId || state.closedSessions.has(sessionId);
  }

  #rememberVolatile(commandId: string): void {
    this.#recentVolatile.add(commandId);
    if (this.#recentVolatile.size > 1_000) {
      const oldest = this.#recentVolatile.values().next().value;
      if (oldest !== undefined) this.#recentVolatile.delete(oldest);
    }
  }
}
