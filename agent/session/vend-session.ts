import { randomUUID } from "node:crypto";
import type { SelectionRequest, VendMechanism, VendOutcome } from "../../hardware/vend-mechanism.ts";
import type { Clock, TimerHandle } from "../../platform/clock.ts";
import type { Logger } from "../../platform/logger.ts";
import { type Catalog, catalogHash, cheapestPriceMinor } from "../../protocol/catalog.ts";
import type { CommandPayload, MachineState, ScreenName } from "../../protocol/messages.ts";
import { contractScreenName, type DisplayState, sessionEndState } from "../display/screens.ts";
import type { EventDraft, Journal } from "../journal/journal.ts";
import type { OpenSession, SessionMode, StoredEvent, VendRecord, VendResult } from "../journal/journal-state.ts";
import { vendsInFlight } from "../journal/journal-state.ts";
import { decideSelection, decideSelectionFirst, endAfterVend } from "./decide.ts";

/**
 * The vend session state machine (design §3):
 *   idle -> payment-pending -> unlocked(budget) -> vending -> unlocked ... -> ended(reason) -> idle,
 *   and out-of-service while the hardware is down or faulted.
 * Selection first (MDB always idle): idle -> held selection ("pay 1.50 EUR for Cola", the VMC waits) ->
 *   payment-pending -> unlocked(budget) -> that selection vended at once -> ended; a held selection lives in memory
 *   only (the VMC's request does not survive a restart of either side), and nothing is vended for it without a
 *   journaled session and a journaled approval, as for any vend.
 * The journal holds the durable part (pending payment, open session, vends); this class adds timers and the screen.
 * Every change is journaled (fsync) before it is acted on: a vend is approved on disk before the motor turns.
 */

export type SessionEndReason =
  | "single-vend-done"
  | "budget-spent"
  | "customer-done"
  | "idle-timeout"
  | "cancelled"
  | "payment-timeout"
  | "fault"
  | "shutdown";

export type CommandRefusal = { reason: "busy" | "unknown-session" | "out-of-service" | "invalid"; detail: string };
type Seen = { commandId: string; expiresAt: number };

export interface VendSessionOptions {
  journal: Journal;
  mechanism: VendMechanism;
  catalog: Catalog;
  mode: SessionMode;
  selectionTimeoutMs: number;
  paymentPendingTimeoutMs: number;
  /** How long the thank-you / not-charged screen stays before the QR comes back. */
  endScreenMs?: number;
  /** The machine sells selection first too (MDB always idle); where the customer chooses (screens.ts). */
  chooseFirst?: "on-machine" | "on-screen";
  clock: Clock;
  logger: Logger;
  /** Hands durable events to the outbox for publishing. */
  publish(events: StoredEvent[]): void;
  /** Called whenever the screen or the session changed (the retained state is republished). */
  onChange(): void;
}

export class VendSession {
  readonly #o: VendSessionOptions;
  readonly #log: Logger;
  #catalog: Catalog;
  #hardwareUp = false;
  #outOfService: { code: string; message: string; ts: number } | null = null;
  #lastFault: { code: string; message: string; ts: number } | null = null;
  /** The end screen of the last session (thank you, not charged, ...) and until when it shows. */
  #endScreen: { state: DisplayState; until: number } | null = null;
  #endRequested: SessionEndReason | null = null;
  #vending: Promise<void> | null = null;
  /** What the screen needs beyond the journal: the product being dispensed, the countdown. */
  #vendingSelection: string | null = null;
  #selectionDeadline: number | undefined;
  /** Selection first: the request the machine holds while the customer pays exactly its price. */
  #held: HeldSelection | null = null;
  #heldTimer: TimerHandle | undefined;
  /** The open session was opened for a held selection, so the machine offers no credit of its own yet. */
  #creditPending = false;
  #stopping = false;
  #selectionTimer: TimerHandle | undefined;
  #paymentTimer: TimerHandle | undefined;
  #endScreenTimer: TimerHandle | undefined;
  /** Serializes decisions; the vend itself runs outside it so that commands are not held up by a turning motor. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: VendSessionOptions) {
    this.#o = { endScreenMs: 4_000, ...options };
    this.#log = options.logger.child({ module: "session" });
    this.#catalog = options.catalog;
    const mechanism = options.mechanism;
    mechanism.on("selection", (request) =>
      this.#background(() =>
        this.#onSelection(request).catch(async (error: unknown) => {
          // Nothing was approved (the journal could not write, say): refuse rather than leave the machine waiting.
          await mechanism.deny(request.selection, "internal error", request.requestId).catch(() => undefined);
          throw error;
        }),
      ),
    );
    mechanism.on("selectionWithdrawn", (withdrawn) => this.#background(async () => this.#onWithdrawn(withdrawn)));
    mechanism.on("sessionClosedByMachine", (reason) => this.#background(() => this.#onMachineClosed(reason)));
    mechanism.on("fault", (fault) => this.#background(() => this.#onFault(fault)));
    mechanism.on("link", (state, detail) => this.#background(() => this.#onLink(state, detail)));
  }

  get catalog(): Catalog {
    return this.#catalog;
  }

  /** What the retained `state` topic shows about the session. */
  view(): Pick<MachineState, "screen" | "session" | "lastFault" | "pendingSelection" | "catalogHash"> {
    const state = this.#o.journal.state;
    const session = state.session;
    const held = session ? null : this.#held;
    return {
      ...(held
        ? {
            pendingSelection: {
              selection: held.selection,
              priceMinor: held.priceMinor,
              currency: held.currency,
              expiresAt: held.expiresAt,
            },
          }
        : {}),
      screen: this.#screen(),
      catalogHash: catalogHash(this.#catalog),
      session: session
        ? {
            sessionId: session.sessionId,
            phase: this.#vending !== null ? "vending" : this.#endRequested ? "ending" : "unlocked",
            budgetMinor: session.budgetMinor,
            spentMinor: session.spentMinor,
            currency: session.currency,
          }
        : state.pending
          ? {
              sessionId: state.pending.sessionId,
              phase: "payment-pending",
              budgetMinor: state.pending.amountMinor,
              spentMinor: 0,
              currency: state.pending.currency,
            }
          : null,
      lastFault: this.#lastFault,
    };
  }

  /** What the customer's screen shows now (agent/display turns it into words, QR and products). */
  displayState(): DisplayState {
    const state = this.#o.journal.state;
    switch (this.#screen()) {
      case "starting":
        return { screen: "starting" };
      case "out-of-service":
        return { screen: "out-of-service", reason: this.#outOfService?.message ?? "out of service" };
      case "payment-pending":
        return state.pending
          ? {
              screen: "payment-pending",
              amountMinor: state.pending.amountMinor,
              currency: state.pending.currency,
              deadline: state.pending.since + this.#o.paymentPendingTimeoutMs,
            }
          : { screen: "idle" };
      case "pay-for-selection":
        return this.#held
          ? {
              screen: "pay-for-selection",
              selection: this.#held.selection,
              priceMinor: this.#held.priceMinor,
              currency: this.#held.currency,
              deadline: this.#held.expiresAt,
            }
          : this.#idleState();
      case "dispensing":
        return { screen: "dispensing", selection: this.#vendingSelection ?? "" };
      case "choose-product": {
        const session = state.session;
        if (!session) return { screen: "idle" };
        return {
          screen: "choose-product",
          budgetLeftMinor: session.budgetMinor - session.spentMinor,
          currency: session.currency,
          deadline: this.#selectionDeadline ?? this.#o.clock.now() + this.#o.selectionTimeoutMs,
        };
      }
      case "thank-you":
      case "vend-failed":
        return this.#endScreen?.state ?? this.#idleState();
      default:
        return this.#idleState();
    }
  }

  #idleState(): DisplayState {
    return this.#o.chooseFirst ? { screen: "idle", chooseFirst: this.#o.chooseFirst } : { screen: "idle" };
  }

  /** The customer pressed "done" on the screen: end the session (after the vend in progress, if any). */
  customerDone(): Promise<void> {
    return this.#serial(() => this.#onMachineClosed("customer pressed done on the screen"));
  }

  /**
   * The customer pressed Cancel on the "confirm in your app" screen: the payment is no longer pending here and the
   * session ends with nothing vended (session-ended `cancelled`), on which the bridge cancels the invoice.
   */
  customerCancel(): Promise<void> {
    return this.#serial(async () => {
      const pending = this.#o.journal.state.pending;
      if (!pending) {
        await this.#dropHeld("the customer cancelled the selection");
        return;
      }
      this.#log.info({ sessionId: pending.sessionId }, "the customer cancelled the payment at the machine");
      await this.#clearPayment(pending.sessionId, "cancelled");
      await this.#dropHeld("the customer cancelled the payment");
    });
  }

  #screen(): ScreenName {
    const state = this.#o.journal.state;
    if (this.#outOfService) return "out-of-service";
    if (!this.#hardwareUp) return "starting";
    if (state.session) return this.#vending !== null ? "dispensing" : "choose-product";
    if (state.pending) return "payment-pending";
    if (this.#held) return "pay-for-selection";
    if (this.#endScreen && this.#endScreen.until > this.#o.clock.now())
      return contractScreenName(this.#endScreen.state);
    return "idle";
  }

  /**
   * Recovery after a start: a vend left in flight by a crash or power cut becomes `unknown` (reported, never vended
   * again, never billed automatically); a session left open ends with reason `fault`; a pending payment resumes if
   * it has time left.
   */
  recover(): Promise<void> {
    return this.#serial(async () => {
      const journal = this.#o.journal;
      for (const vend of vendsInFlight(journal.state)) {
        this.#log.warn(
          { vendId: vend.vendId, selection: vend.selection },
          "a vend was in flight at the last stop: unknown",
        );
        await this.#recordVendUnknown(vend, {
          evidence: "restart",
          detail: "the agent restarted while this vend was in flight; it is not repeated",
        });
      }
      if (journal.state.session) await this.#endSession("fault");
      const pending = journal.state.pending;
      if (pending) {
        const left = pending.since + this.#o.paymentPendingTimeoutMs - this.#o.clock.now();
        if (left <= 0) await this.#clearPayment(pending.sessionId, "payment-timeout");
        else this.#armPaymentTimer(pending.sessionId, left);
      }
    });
  }

  /** The hardware is up: the machine can vend (availability `online` is published by the caller). */
  hardwareStarted(): void {
    this.#hardwareUp = true;
    this.#o.onChange();
  }

  setCatalog(catalog: Catalog): CommandRefusal | undefined {
    const state = this.#o.journal.state;
    if (state.session || state.pending)
      return { reason: "busy", detail: "a session is open; prices change between sessions" };
    // Its price was checked against the current catalog, and the customer may be paying it right now.
    if (this.#held) return { reason: "busy", detail: "a selection is held for payment; prices change after it" };
    this.#catalog = catalog;
    // The retained state carries the catalog's hash: republished now, it tells the backend the new prices are in force.
    this.#o.onChange();
    return undefined;
  }

  paymentPending(command: CommandPayload<"payment-pending">, seen: Seen): Promise<CommandRefusal | undefined> {
    return this.#serial(async () => {
      const refusal = await this.#admitPayment(command);
      if (refusal) return refusal;
      await this.#o.journal.commit(
        "payment-pending",
        {
          t: "payment-pending",
          pending: {
            sessionId: command.sessionId,
            amountMinor: command.amountMinor,
            currency: command.currency,
            since: this.#o.clock.now(),
          },
        },
        { seen },
      );
      this.#endScreen = null;
      this.#armPaymentTimer(command.sessionId, this.#o.paymentPendingTimeoutMs);
      this.#o.onChange();
      return undefined;
    });
  }

  unlock(command: CommandPayload<"unlock">, seen: Seen): Promise<CommandRefusal | undefined> {
    return this.#serial(async () => {
      const refusal = await this.#admitPayment(command);
      if (refusal) return refusal;
      const held = await this.#heldFor(command);
      const session: OpenSession = {
        sessionId: command.sessionId,
        commandId: command.commandId,
        budgetMinor: command.budgetMinor,
        currency: command.currency,
        // The customer paid for the one product they chose: the session ends after it.
        mode: held ? "single-vend" : (command.mode ?? this.#o.mode),
        openedAt: this.#o.clock.now(),
        spentMinor: 0,
        vendedCount: 0,
        vendedTotalMinor: 0,
        unknownCount: 0,
      };
      const events = await this.#o.journal.commit(
        "unlock",
        { t: "session-open", session },
        {
          seen,
          events: [
            {
              name: "unlocked",
              body: {
                sessionId: session.sessionId,
                commandId: command.commandId,
                budgetMinor: session.budgetMinor,
                currency: session.currency,
              },
            },
          ],
        },
      );
      this.#clearTimer("payment");
      this.#endRequested = null;
      this.#endScreen = null;
      this.#o.publish(events);
      this.#log.info(
        { sessionId: session.sessionId, budgetMinor: session.budgetMinor, mode: session.mode },
        "unlocked",
      );
      try {
        await this.#o.mechanism.openSession(session.budgetMinor, held?.request.requestId);
      } catch (error) {
        this.#log.error({ err: error }, "the mechanism could not open the session");
        await this.#recordFault("session-open-failed", (error as Error).message, false);
        await this.#endSession("fault");
        return undefined;
      }
      this.#armSelectionTimer();
      this.#o.onChange();
      if (held) {
        this.#log.info({ selection: held.selection, priceMinor: held.priceMinor }, "vending the selection paid for");
        this.#creditPending = true;
        try {
          await this.#onSelection(held.request);
        } catch (error) {
          // Nothing approved (the journal could not write, say): answer the machine rather than leave it waiting.
          await this.#o.mechanism
            .deny(held.request.selection, "internal error", held.request.requestId)
            .catch(() => undefined);
          throw error;
        }
        // Refused after all (the budget, the catalog): the customer may choose again, with credit offered as usual.
        if (this.#vending === null && this.#o.journal.state.session) await this.#offerCredit();
      }
      return undefined;
    });
  }

  cancel(command: CommandPayload<"cancel">, seen: Seen): Promise<CommandRefusal | undefined> {
    return this.#serial(async () => {
      const state = this.#o.journal.state;
      const reason: SessionEndReason = command.reason === "payment-timeout" ? "payment-timeout" : "cancelled";
      if (state.pending?.sessionId === command.sessionId) {
        await this.#clearPayment(command.sessionId, reason, seen);
        await this.#dropHeld(`payment ${reason}`);
        return undefined;
      }
      if (state.session?.sessionId === command.sessionId) {
        if (this.#vending !== null) {
          // The motor is turning: the vend finishes (and is billed if delivered), then the session ends.
          this.#endRequested = reason;
          await this.#o.journal.commit("event", { t: "note" }, { seen });
          this.#o.onChange();
          return undefined;
        }
        await this.#endSession(reason, seen);
        return undefined;
      }
      return {
        reason: "unknown-session",
        detail: `session ${command.sessionId} is not open here`,
      } satisfies CommandRefusal;
    });
  }

  /**
   * Graceful stop: lets a vend in progress finish (up to waitForVendMs); one that does not is recorded as unknown
   * now, never repeated. The open session ends with reason `shutdown`. A pending payment stays in the journal and
   * resumes after the restart if it still has time.
   */
  async stop(waitForVendMs: number): Promise<void> {
    this.#stopping = true;
    this.#clearTimer("selection");
    this.#clearTimer("payment");
    this.#clearTimer("end-screen");
    await this.#dropHeld("the agent is stopping");
    const vending = this.#vending;
    // An explicit null check: `if (await vending)` waited for the whole vend (it resolves to undefined), with no limit.
    if (vending !== null) {
      this.#log.info({ waitForVendMs }, "waiting for the vend in progress before stopping");
      let timer: TimerHandle | undefined;
      const waited = new Promise<void>((resolve) => {
        timer = this.#o.clock.setTimeout(resolve, waitForVendMs);
        timer.unref?.();
      });
      await Promise.race([vending, waited]);
      if (timer) this.#o.clock.clearTimeout(timer);
    }
    await this.#serial(async () => {
      const journal = this.#o.journal;
      for (const vend of vendsInFlight(journal.state)) {
        await this.#recordVendUnknown(vend, {
          evidence: "none",
          detail: "the agent stopped before the vend reported a result",
        });
      }
      if (journal.state.session) await this.#endSession("shutdown");
    });
  }

  // ---------------------------------------------------------------- mechanism events

  async #onSelection(request: SelectionRequest): Promise<void> {
    const session = this.#o.journal.state.session;
    const deny = async (reason: string) => {
      this.#log.info({ selection: request.selection, reason }, "selection denied");
      await this.#o.mechanism.deny(request.selection, reason, request.requestId).catch((error: unknown) => {
        this.#log.warn({ err: error }, "the mechanism did not take the denial");
      });
    };
    if (!session && request.sessionless) return this.#hold(request, deny);
    if (!session || this.#stopping || this.#outOfService) return deny("no open session");
    if (this.#vending !== null) return deny("a vend is in progress");
    if (this.#endRequested) return deny("the session is ending");
    this.#armSelectionTimer();
    const decision = decideSelection(session, this.#catalog, request);
    if (!decision.approve) return deny(decision.reason);
    const vendId = randomUUID();
    const vend: VendRecord = {
      vendId,
      sessionId: session.sessionId,
      selection: decision.selection,
      sku: decision.product.sku,
      name: decision.product.name,
      priceMinor: decision.priceMinor,
      currency: session.currency,
      state: "in-flight",
      approvedAt: this.#o.clock.now(),
    };
    // Durable before the motor turns: after a crash from here on, this vend is `unknown`, never vended again.
    const events = await this.#o.journal.commit(
      "vend-approved",
      { t: "vend-approved", vend },
      {
        events: [
          {
            name: "vend-started",
            body: vendEventBase(vend),
          },
        ],
      },
    );
    this.#clearTimer("selection");
    this.#o.publish(events);
    this.#log.info({ vendId, selection: vend.selection, priceMinor: vend.priceMinor }, "vend approved");
    const running = this.#o.mechanism
      .vend(vend.selection, vend.priceMinor, request.requestId)
      .catch(
        (error: unknown): VendOutcome => ({ outcome: "unknown", evidence: "none", detail: (error as Error).message }),
      )
      .then((outcome) => this.#serial(() => this.#onVendResult(vend, outcome)))
      .catch(() => undefined) // logged by #serial; the vend stays in flight in the journal, so it is never repeated
      .finally(() => {
        if (this.#vending === running) {
          this.#vending = null;
          this.#vendingSelection = null;
        }
        this.#o.onChange();
      });
    this.#vending = running;
    this.#vendingSelection = vend.selection;
    this.#o.onChange();
  }

  async #onVendResult(vend: VendRecord, outcome: VendOutcome): Promise<void> {
    const current = this.#o.journal.state.vends.get(vend.vendId);
    if (current?.state !== "in-flight") return; // already recorded (stop() parked it as unknown)
    const detail = "detail" in outcome && outcome.detail ? { detail: outcome.detail.slice(0, 200) } : {};
    let result: VendResult;
    if (outcome.outcome === "delivered") {
      result = "delivered";
      await this.#commitVendResult(vend.vendId, result, {
        name: "vended",
        body: { ...vendEventBase(vend), sku: vend.sku, name: vend.name, evidence: outcome.evidence },
      });
    } else if (outcome.outcome === "unknown") {
      result = "unknown";
      await this.#recordVendUnknown(vend, { evidence: outcome.evidence, ...detail });
    } else {
      result = "failed";
      await this.#commitVendResult(vend.vendId, result, {
        name: "vend-failed",
        body: { ...vendEventBase(vend), outcome: outcome.outcome, evidence: outcome.evidence, ...detail },
      });
    }
    this.#log.info({ vendId: vend.vendId, result, evidence: outcome.evidence }, "vend result");
    const session = this.#o.journal.state.session;
    if (!session || session.sessionId !== vend.sessionId) return;
    if (this.#creditPending && result === "failed" && !this.#endRequested && !this.#stopping) {
      // The held selection was not vended (the VMC had given up on it: VEND -3): the machine offers no credit of its
      // own, so offer it now; the customer may press the product again within the paid budget.
      await this.#offerCredit();
      return;
    }
    this.#creditPending = false;
    const endReason =
      this.#endRequested ??
      endAfterVend(session, session.mode, result, cheapestPriceMinor(this.#catalog)) ??
      (this.#outOfService ? "fault" : null);
    if (endReason && !this.#stopping) await this.#endSession(endReason);
    else if (!this.#stopping) this.#armSelectionTimer();
  }

  async #onMachineClosed(reason: string): Promise<void> {
    const session = this.#o.journal.state.session;
    if (!session) return;
    this.#log.info({ reason }, "the customer ended the session at the machine");
    if (this.#vending !== null) this.#endRequested = "customer-done";
    else await this.#endSession("customer-done");
  }

  async #onFault(fault: { code: string; message: string; outOfService: boolean }): Promise<void> {
    await this.#recordFault(fault.code, fault.message, fault.outOfService);
    if (!fault.outOfService) return;
    await this.#dropHeld("the machine is out of service");
    if (this.#o.journal.state.session) {
      if (this.#vending !== null) this.#endRequested = "fault";
      else await this.#endSession("fault");
    }
  }

  async #onLink(state: "up" | "down", detail?: string): Promise<void> {
    if (state === "down" && this.#stopping) {
      // The agent stops the mechanism itself on a graceful stop: no fault, nothing to report or to log as an error.
      this.#log.info({ detail }, "vend mechanism stopped");
      return;
    }
    if (state === "down") {
      await this.#onFault({
        code: "hardware-link-down",
        message: detail ?? "the vend mechanism's link is down",
        outOfService: true,
      });
      return;
    }
    const ended = this.#outOfService;
    if (ended) {
      this.#log.info({ code: ended.code }, "the vend mechanism is back: in service again");
      this.#outOfService = null;
      // The backend took the machine out of offers on the fault: tell it the cause is gone (durable, resent until
      // acknowledged), so the flag does not outlive it.
      const events = await this.#o.journal.commit(
        "event",
        { t: "note" },
        { events: [{ name: "in-service", body: { sessionId: null, code: ended.code } }] },
      );
      this.#o.publish(events);
      this.#o.onChange();
    }
  }

  /** For `pong`: whether the machine can sell right now, and the cause when it cannot. */
  serviceStatus(): { inService: boolean; outOfService: { code: string; message: string } | null } {
    const cause = this.#outOfService
      ? { code: this.#outOfService.code, message: this.#outOfService.message }
      : this.#stopping
        ? { code: "stopping", message: "the agent is stopping" }
        : !this.#hardwareUp
          ? { code: "hardware-not-up", message: "the vend mechanism is not up yet" }
          : null;
    return { inService: cause === null, outOfService: cause };
  }

  async #recordFault(code: string, message: string, outOfService: boolean): Promise<void> {
    const ts = this.#o.clock.now();
    this.#lastFault = { code: code.slice(0, 64), message: message.slice(0, 300), ts };
    if (outOfService) this.#outOfService = this.#lastFault;
    this.#log.error({ code, outOfService }, message);
    const sessionId = this.#o.journal.state.session?.sessionId ?? null;
    const events = await this.#o.journal.commit(
      "event",
      { t: "note" },
      {
        events: [
          { name: "fault", body: { sessionId, code: code.slice(0, 64), message: message.slice(0, 300), outOfService } },
        ],
      },
    );
    this.#o.publish(events);
    this.#o.onChange();
  }

  /** Journals a vend's result with the one event that reports it, then hands the event to the outbox. */
  async #commitVendResult(vendId: string, result: VendResult, event: EventDraft): Promise<void> {
    const events = await this.#o.journal.commit(
      "vend-result",
      { t: "vend-result", vendId, result },
      { events: [event] },
    );
    this.#o.publish(events);
  }

  /** An unknown vend is reported and kept: never vended again, never billed automatically. */
  #recordVendUnknown(vend: VendRecord, why: { evidence: UnknownEvidence; detail?: string }): Promise<void> {
    return this.#commitVendResult(vend.vendId, "unknown", {
      name: "vend-unknown",
      body: { ...vendEventBase(vend), ...why },
    });
  }

  // ---------------------------------------------------------------- endings and timers

  async #endSession(reason: SessionEndReason, seen?: Seen): Promise<void> {
    const session = this.#o.journal.state.session;
    if (!session) return;
    // Counted before the commit, which drops the session's finished vends from the journal state.
    const notDeliveredCount = [...this.#o.journal.state.vends.values()].filter(
      (vend) => vend.sessionId === session.sessionId && (vend.state === "failed" || vend.state === "unknown"),
    ).length;
    const events = await this.#o.journal.commit(
      "session-ended",
      { t: "session-end", sessionId: session.sessionId },
      {
        ...(seen ? { seen } : {}),
        events: [
          {
            name: "session-ended",
            body: {
              sessionId: session.sessionId,
              reason,
              vendedCount: session.vendedCount,
              vendedTotalMinor: session.vendedTotalMinor,
              unknownCount: session.unknownCount,
              currency: session.currency,
            },
          },
        ],
      },
    );
    this.#o.publish(events);
    this.#log.info(
      { sessionId: session.sessionId, reason, vendedTotalMinor: session.vendedTotalMinor },
      "session ended",
    );
    this.#clearTimer("selection");
    this.#endRequested = null;
    this.#creditPending = false;
    await this.#o.mechanism.closeSession().catch((error: unknown) => {
      this.#log.warn({ err: error }, "the mechanism did not close the session");
    });
    this.#showEndScreen(
      sessionEndState({
        vendedCount: session.vendedCount,
        vendedTotalMinor: session.vendedTotalMinor,
        notDeliveredCount,
        currency: session.currency,
      }),
    );
  }

  /** Ends a pending payment (journaled, reported); false when `sessionId` was not the pending one. */
  async #clearPayment(sessionId: string, reason: "payment-timeout" | "cancelled", seen?: Seen): Promise<boolean> {
    const pending = this.#o.journal.state.pending;
    if (!pending || pending.sessionId !== sessionId) return false;
    const events = await this.#o.journal.commit(
      "payment-cleared",
      { t: "payment-cleared", sessionId },
      {
        ...(seen ? { seen } : {}),
        events: [
          {
            name: "session-ended",
            body: {
              sessionId,
              reason,
              vendedCount: 0,
              vendedTotalMinor: 0,
              unknownCount: 0,
              currency: pending.currency,
            },
          },
        ],
      },
    );
    this.#o.publish(events);
    this.#clearTimer("payment");
    this.#log.info({ sessionId, reason }, "payment no longer pending");
    this.#showEndScreen({
      screen: "not-charged",
      why: reason === "cancelled" ? "payment-cancelled" : "payment-timeout",
    });
    return true;
  }

  #showEndScreen(state: DisplayState): void {
    this.#clearTimer("end-screen");
    const ms = this.#o.endScreenMs ?? 4_000;
    this.#endScreen = state.screen === "idle" ? null : { state, until: this.#o.clock.now() + ms };
    this.#o.onChange();
    if (this.#endScreen) {
      this.#endScreenTimer = this.#o.clock.setTimeout(() => {
        this.#endScreen = null;
        this.#o.onChange();
      }, ms);
    }
  }

  /**
   * The checks a payment-pending or unlock command passes before it changes anything: the session was not already
   * ended here, the machine can vend, no session is open, the currency is the catalog's. A pending payment of another session is then cleared: a newer
   * payment supersedes one the backend has evidently given up on.
   */
  async #admitPayment(command: { sessionId: string; currency: string }): Promise<CommandRefusal | undefined> {
    const state = this.#o.journal.state;
    if (state.closedSessions.has(command.sessionId)) {
      // We already told the backend this session is over (e.g. our payment-pending timer fired while it moved on to
      // reserved): vends in it would never be billed.
      return {
        reason: "unknown-session",
        detail: `session ${command.sessionId} was already ended on this machine; start a new session`,
      };
    }
    const refusal = this.#refuseWhenUnavailable();
    if (refusal) return refusal;
    if (state.session) return { reason: "busy", detail: `session ${state.session.sessionId} is open` };
    if (command.currency !== this.#catalog.currency) {
      return {
        reason: "invalid",
        detail: `currency ${command.currency} is not the catalog's ${this.#catalog.currency}`,
      };
    }
    if (state.pending && state.pending.sessionId !== command.sessionId) {
      await this.#clearPayment(state.pending.sessionId, "cancelled");
    }
    return undefined;
  }

  #refuseWhenUnavailable(): CommandRefusal | undefined {
    if (this.#stopping) return { reason: "out-of-service", detail: "the agent is stopping" };
    if (this.#outOfService)
      return { reason: "out-of-service", detail: `${this.#outOfService.code}: ${this.#outOfService.message}` };
    if (!this.#hardwareUp) return { reason: "out-of-service", detail: "the vend mechanism is not up yet" };
    return undefined;
  }

  #armSelectionTimer(): void {
    this.#clearTimer("selection");
    this.#selectionDeadline = this.#o.clock.now() + this.#o.selectionTimeoutMs;
    this.#selectionTimer = this.#o.clock.setTimeout(() => {
      this.#background(async () => {
        if (this.#o.journal.state.session && this.#vending === null && !this.#stopping)
          await this.#endSession("idle-timeout");
      });
    }, this.#o.selectionTimeoutMs);
  }

  #armPaymentTimer(sessionId: string, ms: number): void {
    this.#clearTimer("payment");
    this.#paymentTimer = this.#o.clock.setTimeout(() => {
      this.#background(async () => {
        // Only if this payment was still the pending one: a newer payment may be paying for the held selection.
        if (await this.#clearPayment(sessionId, "payment-timeout"))
          await this.#dropHeld("the payment was not confirmed in time");
      });
    }, ms);
  }

  /** Offers the session's remaining budget as machine credit (MDB: a fresh BEGIN SESSION). */
  async #offerCredit(): Promise<void> {
    this.#creditPending = false;
    const session = this.#o.journal.state.session;
    if (!session) return;
    try {
      await this.#o.mechanism.closeSession();
      await this.#o.mechanism.openSession(session.budgetMinor - session.spentMinor);
    } catch (error) {
      this.#log.error({ err: error }, "the mechanism could not offer the session's credit");
      await this.#recordFault("session-open-failed", (error as Error).message, false);
      await this.#endSession("fault");
      return;
    }
    this.#armSelectionTimer();
    this.#o.onChange();
  }

  // ---------------------------------------------------------------- selection first

  /**
   * A selection made before paying: held (the machine keeps its request open) while the customer pays exactly its
   * price, or refused at once. The retained state carries it, so the bridge reserves that price.
   */
  async #hold(request: SelectionRequest, deny: (reason: string) => Promise<void>): Promise<void> {
    const now = this.#o.clock.now();
    const why = this.#stopping
      ? "the agent is stopping"
      : this.#outOfService
        ? "the machine is out of service"
        : !this.#hardwareUp
          ? "the vend mechanism is not up yet"
          : this.#o.journal.state.pending
            ? "a payment is already pending"
            : null;
    const decision = decideSelectionFirst(
      this.#catalog,
      request,
      now,
      why === null ? { canSell: true } : { canSell: false, why },
    );
    if (!decision.approve) return deny(decision.reason);
    this.#clearHeld();
    const expiresAt = request.answerBy ?? now + this.#o.selectionTimeoutMs;
    this.#held = {
      request,
      selection: decision.selection,
      priceMinor: decision.priceMinor,
      currency: this.#catalog.currency,
      expiresAt,
    };
    this.#heldTimer = this.#o.clock.setTimeout(
      () => this.#background(() => this.#dropHeld("the machine stopped holding the selection")),
      Math.max(0, expiresAt - now),
    );
    this.#endScreen = null;
    this.#log.info(
      { selection: decision.selection, priceMinor: decision.priceMinor, expiresAt },
      "selection first: waiting for the customer to pay this price",
    );
    this.#o.onChange();
  }

  /** The held selection an unlock pays for, if it still can: held, in time, same currency, within the budget. */
  async #heldFor(command: CommandPayload<"unlock">): Promise<HeldSelection | undefined> {
    const held = this.#held;
    if (!held) return undefined;
    // Two journal writes and a serial round trip lie between here and the approval reaching the VMC: a hold about to
    // end is not worth the race.
    if (held.expiresAt - this.#o.clock.now() < heldApprovalMarginMs) {
      await this.#dropHeld("the machine stops holding the selection too soon");
      return undefined;
    }
    // (Its currency is the unlock's: #admitPayment refused any other, and the catalog does not change while held.)
    if (held.priceMinor > command.budgetMinor) {
      // Not what this payment covers: answer the machine, and let the customer choose within the budget.
      await this.#dropHeld(`the unlock's budget ${command.budgetMinor} does not cover ${held.priceMinor}`);
      return undefined;
    }
    this.#clearHeld();
    return held;
  }

  #onWithdrawn(withdrawn: { selection: string; requestId?: number; reason: string }): void {
    const held = this.#held;
    if (!held || held.request.requestId !== withdrawn.requestId || held.request.selection !== withdrawn.selection)
      return;
    this.#log.info({ selection: held.selection, reason: withdrawn.reason }, "the machine gave up the held selection");
    this.#clearHeld();
    this.#o.onChange();
  }

  /** Ends a held selection here and at the machine (deny), so the VMC is answered and the QR screen comes back. */
  async #dropHeld(reason: string): Promise<void> {
    const held = this.#held;
    if (!held) return;
    this.#clearHeld();
    this.#log.info({ selection: held.selection, reason }, "held selection released");
    await this.#o.mechanism.deny(held.request.selection, reason, held.request.requestId).catch((error: unknown) => {
      this.#log.warn({ err: error }, "the mechanism did not take the denial");
    });
    this.#o.onChange();
  }

  #clearHeld(): void {
    if (this.#heldTimer) this.#o.clock.clearTimeout(this.#heldTimer);
    this.#heldTimer = undefined;
    this.#held = null;
  }

  #clearTimer(which: "selection" | "payment" | "end-screen"): void {
    const handle =
      which === "selection" ? this.#selectionTimer : which === "payment" ? this.#paymentTimer : this.#endScreenTimer;
    if (handle) this.#o.clock.clearTimeout(handle);
    if (which === "selection") {
      this.#selectionTimer = undefined;
      this.#selectionDeadline = undefined;
    } else if (which === "payment") this.#paymentTimer = undefined;
    else this.#endScreenTimer = undefined;
  }

  /** For steps nobody awaits (mechanism events, timers): failures are logged by #serial and go no further. */
  #background(work: () => Promise<unknown>): void {
    this.#serial(work).catch(() => undefined);
  }

  #serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work);
    this.#queue = run.catch((error: unknown) => {
      this.#log.error({ err: error }, "session step failed");
    });
    return run;
  }
}

/** An unlock with less time than this left on the hold opens an ordinary session instead. */
const heldApprovalMarginMs = 2_000;

interface HeldSelection {
  request: SelectionRequest;
  selection: string;
  priceMinor: number;
  currency: string;
  expiresAt: number;
}

type UnknownEvidence = Extract<VendOutcome, { outcome: "unknown" }>["evidence"];

/** The fields every vend event starts with. */
function vendEventBase(vend: VendRecord) {
  return {
    sessionId: vend.sessionId,
    vendId: vend.vendId,
    selection: vend.selection,
    priceMinor: vend.priceMinor,
    currency: vend.currency,
  };
}
