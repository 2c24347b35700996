import type { CommandName, EventName } from "../../../protocol/messages.ts";

/**
 * An honest vend agent for the model-based purchase test: it accepts an unlock only while the command is unexpired,
 * not replayed and the machine is in service; approves a vend only within the remaining budget; stops at a cancel;
 * and keeps every event in its journal until the bridge acknowledges it (so events are resent, late, or twice).
 * What it physically dispensed is the ground truth the money checks compare SEQR's commits with.
 */

export interface AgentCommand {
  name: CommandName;
  body: Record<string, unknown>;
  commandId: string;
  issuedAt: number;
  expiresAt: number;
}

export interface JournalEvent {
  name: EventName | "in-service";
  payload: Record<string, unknown> & { eventId: string };
}

export interface PhysicalVend {
  sessionId: string;
  vendId: string;
  selection: string;
  reportedMinor: number;
  at: number;
}

interface AgentSession {
  sessionId: string;
  commandId: string;
  budgetMinor: number;
  currency: string;
  spentMinor: number;
  vendedCount: number;
  unknownCount: number;
}

/** What the agent's own planogram says a selection is (it may disagree with the bridge's registry). */
export const agentProducts: Record<string, { sku: string; name: string }> = {
  A1: { sku: "WATER-05", name: "Still water" },
  A2: { sku: "COLA-033", name: "Cola" },
  Z9: { sku: "UNKNOWN-Z9", name: "Not in the registry" },
};

export class ModelAgent {
  session: AgentSession | null = null;
  outOfService = false;
  readonly journal: JournalEvent[] = [];
  readonly physicalVends: PhysicalVend[] = [];
  readonly accepted: { sessionId: string; commandId: string; at: number }[] = [];
  readonly #seenCommands = new Set<string>();
  #seq = 0;
  #vendSeq = 0;

  #emit(name: JournalEvent["name"], fields: Record<string, unknown>, now: number): void {
    const seq = ++this.#seq;
    this.journal.push({ name, payload: { eventId: `ev-${seq}`, seq, ts: now, ...fields } });
  }

  /** A command that reached the machine. */
  receive(command: AgentCommand, now: number): void {
    const { body } = command;
    switch (command.name) {
      case "unlock": {
        const sessionId = String(body.sessionId);
        const refusal =
          now > command.expiresAt
            ? "expired"
            : this.#seenCommands.has(command.commandId)
              ? "replayed"
              : this.outOfService
                ? "out-of-service"
                : this.session !== null
                  ? "busy"
                  : undefined;
        if (refusal !== undefined) {
          this.#emit(
            "command-rejected",
            { sessionId, commandId: command.commandId, command: "unlock", reason: refusal, detail: refusal },
            now,
          );
          return;
        }
        this.#seenCommands.add(command.commandId);
        this.session = {
          sessionId,
          commandId: command.commandId,
          budgetMinor: Number(body.budgetMinor),
          currency: String(body.currency),
          spentMinor: 0,
          vendedCount: 0,
          unknownCount: 0,
        };
        this.accepted.push({ sessionId, commandId: command.commandId, at: now });
        this.#emit(
          "unlocked",
          { sessionId, commandId: command.commandId, budgetMinor: Number(body.budgetMinor), currency: body.currency },
          now,
        );
        return;
      }
      case "cancel":
        if (this.session?.sessionId === body.sessionId) this.endSession("cancelled", now);
        return;
      case "ping":
        this.#emit(
          "pong",
          {
            sessionId: null,
            commandId: command.commandId,
            inService: !this.outOfService,
            outOfService: this.outOfService ? { code: "reader-disabled", message: "reader disabled" } : null,
          },
          now,
        );
        return;
      default:
        return;
    }
  }

  /** The customer chooses `selection` and the machine reports `priceMinor` for it; false when not approved. */
  vend(selection: string, priceMinor: number, now: number): boolean {
    const session = this.session;
    if (!session || this.outOfService || priceMinor > session.budgetMinor - session.spentMinor) return false;
    const vendId = `v${++this.#vendSeq}`;
    const product = agentProducts[selection] ?? { sku: selection, name: selection };
    session.spentMinor += priceMinor;
    session.vendedCount += 1;
    this.physicalVends.push({ sessionId: session.sessionId, vendId, selection, reportedMinor: priceMinor, at: now });
    this.#emit(
      "vended",
      {
        sessionId: session.sessionId,
        vendId,
        selection,
        sku: product.sku,
        name: product.name,
        priceMinor,
        currency: session.currency,
        evidence: "vend-success",
      },
      now,
    );
    return true;
  }

  vendFailed(selection: string, priceMinor: number, now: number): boolean {
    const session = this.session;
    if (!session) return false;
    this.#emit(
      "vend-failed",
      {
        sessionId: session.sessionId,
        vendId: `v${++this.#vendSeq}`,
        selection,
        priceMinor,
        currency: session.currency,
        outcome: "not-delivered",
        evidence: "vend-failure",
      },
      now,
    );
    return true;
  }

  endSession(reason: "customer-done" | "cancelled" | "fault" | "idle-timeout", now: number): boolean {
    const session = this.session;
    if (!session) return false;
    this.session = null;
    this.#emit(
      "session-ended",
      {
        sessionId: session.sessionId,
        reason,
        vendedCount: session.vendedCount,
        vendedTotalMinor: session.spentMinor,
        unknownCount: session.unknownCount,
        currency: session.currency,
      },
      now,
    );
    return true;
  }

  /** The VMC disabled the reader (service mode, door open): out of service; a running session ends. */
  fault(now: number): void {
    if (this.outOfService) return;
    this.outOfService = true;
    this.endSession("fault", now);
    this.#emit(
      "fault",
      { sessionId: null, code: "reader-disabled", message: "reader disabled by the VMC", outOfService: true },
      now,
    );
  }

  /** The cause of the fault is gone: the agent says so (contract: event `in-service`). */
  inService(now: number): void {
    if (!this.outOfService) return;
    this.outOfService = false;
    this.#emit("in-service", { sessionId: null, code: "reader-disabled" }, now);
  }

  acknowledge(event: JournalEvent): void {
    const index = this.journal.indexOf(event);
    if (index >= 0) this.journal.splice(index, 1);
  }
}
