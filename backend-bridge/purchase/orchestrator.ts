import type { Clock, TimerHandle } from "../../platform/clock.ts";
import type { Logger } from "../../platform/logger.ts";
import { parseDecimalToMinor } from "../../platform/money.ts";
import { maskMsisdn } from "../../platform/redact.ts";
import { cheapestPriceMinor } from "../../protocol/catalog.ts";
import type { EventPayload } from "../../protocol/messages.ts";
import { AvailabilityRecheck, machineFlagChange } from "../fleet/availability-recheck.ts";
import type { DeferredDurability, FleetEvent, FleetLink } from "../fleet/fleet-link.ts";
import { catalogInForce, type RegisteredMachine } from "../registry/machine-registry.ts";
import type { PaymentStatus, SeqrApi } from "../seqr/seqr-api.ts";
import { machineHoldingStates } from "../store/migrations.ts";
import type { TransactionOptions } from "../store/sql-driver.ts";
import type { Purchase, PurchaseChanges, PurchaseState, Store, StoreOps } from "../store/store.ts";
import { newNotifySecret, newSessionId, unlockCommandIdFor } from "./ids.ts";
import { billableVends, reservationInvoice, sumMinor } from "./invoice.ts";
import { invoiceReferenceUnknown, sendInvoiceMayHaveActed } from "./invoice-outcome.ts";
import { KeyedLock } from "./keyed-lock.ts";
import { selectionFirstOffer } from "./selection-first.ts";
import { SessionTimers } from "./session-timers.ts";
import { vendPrice } from "./vend-price.ts";
import { CallTimeoutError, withTimeout } from "./with-timeout.ts";

/**
 * The purchase orchestrator: one state machine per purchase, driven by createPurchase, SEQR notifications, status
 * polling, fleet events and timers.
 *
 *   claimed -> invoiced -> reserved -> unlocked -> vending -> committing -> committed
 *                 \            \           \__________\______> cancelled (nothing vended: cancelInvoice)
 *                  \____________\______________________________> cancelled / failed
 *
 * Every transition is written to the store (with its audit entry, and with the outbox rows of the SEQR calls it
 * requires) before anything is sent to SEQR or to the machine. Transitions are conditional on the current state, so a
 * duplicate, late or concurrent input changes nothing.
 */

export const createPurchaseErrorCodes = [
  "DEVICE_UNAVAILABLE",
  "INSUFFICIENT_FUNDS",
  "DEVICE_IN_USE",
  "INVOICING_ERROR",
  "SYSTEM_ERROR",
] as const;
export type CreatePurchaseErrorCode = (typeof createPurchaseErrorCodes)[number];
export type CreatePurchaseResult = { invoiceReferenceId: string } | { errorCode: CreatePurchaseErrorCode };

/** A createPurchase request with its field spellings normalised (see http/create-purchase-request.ts). */
export interface PurchaseRequest {
  token: string;
  /** The offered maximum as the caller wrote it ("20.00" or 20). */
  amount: string | number;
  currency: string;
  msisdn: string | null;
}

export interface OrchestratorSettings {
  /** Notification URLs are `<publicBaseUrl>/notify/<secret>`. */
  publicBaseUrl: string;
  commitReservationTimeoutSeconds: number;
  /** Upper bound of one SEQR call awaited inside a request (sendInvoice) or a status check. */
  seqrCallTimeoutMs: number;
  timeouts: {
    paymentConfirmMs: number;
    unlockAckMs: number;
    statusPollIntervalMs: number;
    sessionMaxMs: number;
    commandTtlMs: number;
    /** How far a machine's clock may lag ours: an unlock may be honoured until its expiresAt plus this. Default 60 s. */
    clockSkewMs?: number;
    /** createPurchase's own deadline, below SEQR's ~5 s: past it the caller has given up. Default 4.5 s. */
    createPurchaseMs?: number;
    /**
     * How often open purchases are swept for deadlines no instance handled (defect 8), and the payments other
     * instances started are polled (their notification may have died with them). Default 10 s: one interval plus a
     * status call must stay within SEQR's 20-second rule.
     */
    sweepIntervalMs?: number;
  };
  keepMsisdn: boolean;
  /** How long a notification keeps retrying getPaymentStatus (SEQR's 20-second rule). Default 15 s. */
  notificationWindowMs?: number;
  /** How often machines flagged unavailable are re-checked with cmd/ping (fleet/availability-recheck.ts). Default 5 s. */
  availabilityRecheckMs?: number;
}

export interface MachineLookup {
  get(machineId: string): Promise<RegisteredMachine | undefined>;
}

export interface PurchaseObserver {
  createPurchase?(result: string): void;
  sessionClosed?(outcome: "committed" | "cancelled" | "failed"): void;
}

export interface OrchestratorDeps {
  store: Store;
  seqr: SeqrApi;
  fleet: FleetLink;
  machines: MachineLookup;
  clock: Clock;
  logger: Logger;
  /** Nudges the outbox worker after a transition enqueued a SEQR call. */
  outbox: { kick(): void };
  observer?: PurchaseObserver;
}

type AfterCommit = () => Promise<void> | void;

const holding: readonly PurchaseState[] = machineHoldingStates;
/** How soon a stale claim the store could not release is tried again. */
const staleClaimRetryMs = 5_000;
const machineOpen: readonly PurchaseState[] = ["reserved", "unlocked", "vending"];

export class PurchaseOrchestrator {
  readonly #store: Store;
  readonly #seqr: SeqrApi;
  readonly #fleet: FleetLink;
  readonly #machines: MachineLookup;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #outbox: { kick(): void };
  readonly #observer: PurchaseObserver;
  readonly #settings: OrchestratorSettings;
  readonly #locks = new KeyedLock();
  readonly #timers: SessionTimers;
  readonly #statusChecks = new Map<string, Promise<void>>();
  readonly #background = new Set<Promise<unknown>>();
  #recheck: AvailabilityRecheck | undefined;
  /** Sessions the sweep has already asked to end (session-max): the machine is asked once per instance. */
  readonly #sweptSessionMax = new Set<string>();
  #sweepTimer: TimerHandle | undefined;
  #stopped = false;

  constructor(deps: OrchestratorDeps, settings: OrchestratorSettings) {
    this.#store = deps.store;
    this.#seqr = deps.seqr;
    this.#fleet = deps.fleet;
    this.#machines = deps.machines;
    this.#clock = deps.clock;
    this.#log = deps.logger.child({ module: "purchase" });
    this.#outbox = deps.outbox;
    this.#observer = deps.observer ?? {};
    this.#settings = settings;
    this.#timers = new SessionTimers(deps.clock);
  }

  // ------------------------------------------------------------------------------------------------ lifecycle

  /** Subscribes to the fleet and resumes every open purchase from the store (after a restart). */
  async start(): Promise<void> {
    this.#fleet.onEvent((event) => this.handleEvent(event));
    this.#fleet.onAvailability((machineId, availability) => {
      if (availability.state !== "online") return;
      // A machine that comes back online is given another chance after an unacknowledged unlock or a fault.
      this.#spawn(this.#store.clearMachineUnavailable(machineId), "clear machine flag");
      // Commands are not queued for an absent machine (clean sessions): an unlock it may have missed (a restart of
      // the bridge or its broker, a reconnect) goes again, same command id, so an agent that has it refuses a replay.
      this.#spawn(this.#resendUnlock(machineId), "resend unlock");
    });
    for (const purchase of await this.#store.listOpenPurchases()) await this.#resume(purchase);
    // No flag outlives its cause: flagged machines are pinged, pending unlocks resent when the broker link is back.
    this.#recheck = new AvailabilityRecheck({
      fleet: this.#fleet,
      store: this.#store,
      resendUnlock: (machineId) => this.#resendUnlock(machineId),
      clock: this.#clock,
      logger: this.#log,
      intervalMs: this.#settings.availabilityRecheckMs ?? 5_000,
      pingTtlMs: this.#settings.timeouts.commandTtlMs,
    });
    this.#recheck.start();
    this.#armSweep();
  }

  /** Stops timers and waits for the work in flight. The store stays open (the caller owns it). */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#recheck?.stop();
    if (this.#sweepTimer) this.#clock.clearTimeout(this.#sweepTimer);
    this.#sweepTimer = undefined;
    this.#timers.clearAll();
    await Promise.allSettled([...this.#statusChecks.values(), ...this.#background]);
    await this.#locks.idle();
    this.#timers.clearAll();
  }

  get timersPending(): number {
    return this.#timers.size;
  }

  // ------------------------------------------------------------------------------------------------ sweep

  #armSweep(): void {
    if (this.#stopped) return;
    this.#sweepTimer = this.#clock.setTimeout(() => {
      this.#sweepTimer = undefined;
      this.#spawn(
        this.#sweep().finally(() => this.#armSweep()),
        "sweep of open purchases",
      );
    }, this.#sweepIntervalMs());
    this.#sweepTimer.unref?.();
  }

  #sweepIntervalMs(): number {
    return this.#settings.timeouts.sweepIntervalMs ?? 10_000;
  }

  /**
   * Timers live in the instance that armed them. Any live instance looks at every open purchase periodically and
   * runs the handler of a deadline that passed more than one sweep interval ago without the purchase moving on: its
   * instance died (defect 8). The handlers are the timers' own, conditional on the current state, so an instance
   * that is alive and late, or two sweepers at once, change nothing twice; those that only declare something (an
   * unanswered unlock, an endless session) look in the audit log first, so it is declared once.
   *
   * SEQR's 20-second rule allows no such grace: a payment confirmed while its instance was dead (the notification
   * died with it) is reversed unless somebody fetches its status. So every invoiced purchase this instance is not
   * polling itself gets one status check per sweep, whoever created it.
   */
  async #sweep(): Promise<void> {
    const now = this.#clock.now();
    const grace = this.#sweepIntervalMs();
    const open = await this.#store.listOpenPurchases();
    const openIds = new Set(open.map((purchase) => purchase.sessionId));
    for (const sessionId of this.#sweptSessionMax) if (!openIds.has(sessionId)) this.#sweptSessionMax.delete(sessionId);
    for (const purchase of open) {
      if (this.#stopped) return;
      if (purchase.state === "invoiced" && !this.#timers.has(purchase.sessionId, "payment-deadline")) {
        // Not awaited: the status calls of many purchases must not hold up the sweep (one check per purchase at once).
        this.#spawn(this.#checkStatus(purchase.sessionId, 0), "status check of another instance's payment");
      }
      const overdue = this.#overdueDeadline(purchase, now - grace);
      if (overdue === null) continue;
      this.#log.warn(
        { sessionId: purchase.sessionId, state: purchase.state, overdue },
        "taking over an overdue purchase",
      );
      await this.#runOverdue(purchase, overdue).catch((error: unknown) =>
        this.#log.error({ err: error, sessionId: purchase.sessionId }, "overdue purchase not handled"),
      );
    }
  }

  /** Which of the purchase's deadlines had passed by `before` (null: none, or its outbox finishes it). */
  #overdueDeadline(purchase: Purchase, before: number): OverdueDeadline | null {
    switch (purchase.state) {
      case "claimed":
        return purchase.createdAt + this.#staleClaimMs() < before ? "stale-claim" : null;
      case "invoiced":
        return (purchase.invoicedAt ?? purchase.createdAt) + this.#settings.timeouts.paymentConfirmMs < before
          ? "payment-deadline"
          : null;
      case "reserved":
      case "unlocked":
      case "vending":
        if (this.#commitDeadline(purchase) - this.#commitMarginMs() < before) return "commit-deadline";
        if (purchase.state === "reserved") {
          if (this.#unlockHonourableUntil(purchase) < before) return "unlock-expiry";
          // The unlock-ack timer lived in the instance that sent the unlock: if it died, nobody flags the machine.
          const unanswered = this.#unlockSentAt(purchase) + this.#settings.timeouts.unlockAckMs < before;
          return unanswered && !this.#timers.has(purchase.sessionId, "unlock-ack") ? "unlock-ack" : null;
        }
        if (
          purchase.endedVendedCount === null &&
          (purchase.unlockedAt ?? purchase.updatedAt) + this.#settings.timeouts.sessionMaxMs < before &&
          !this.#sweptSessionMax.has(purchase.sessionId)
        ) {
          return "session-max";
        }
        return null;
      default:
        return null;
    }
  }

  async #runOverdue(purchase: Purchase, overdue: OverdueDeadline): Promise<void> {
    const { sessionId } = purchase;
    switch (overdue) {
      case "stale-claim":
        return this.#failStaleClaim(sessionId);
      case "payment-deadline":
        return this.#onPaymentDeadline(sessionId);
      case "unlock-expiry":
        return this.#onUnlockExpired(sessionId);
      case "unlock-ack":
        return this.#onUnlockAckTimeout(sessionId);
      case "commit-deadline":
        return this.#onCommitDeadline(sessionId);
      case "session-max":
        this.#sweptSessionMax.add(sessionId);
        return this.#onSessionMax(sessionId);
    }
  }

  async #resume(purchase: Purchase): Promise<void> {
    const { sessionId } = purchase;
    const now = this.#clock.now();
    this.#log.info({ sessionId, state: purchase.state }, "resuming purchase");
    switch (purchase.state) {
      case "claimed":
        // Maybe another instance is inside sendInvoice right now: only a claim older than any call is stale.
        this.#armStaleClaim(purchase);
        break;
      case "invoiced":
        this.#schedulePaymentTimers(purchase, now);
        break;
      case "reserved":
        // The unlock sent before the restart may still be honoured until it expires: that decides the cancellation.
        this.#armUnlockExpiry(purchase);
        // At start the fleet link is not connected yet: the unlock then goes when the machine is seen online, and
        // each (re)send gives the machine a fresh unlockAckMs to answer.
        if (this.#fleet.isOnline(purchase.machineId)) await this.#sendUnlock(purchase);
        else this.#armUnlockAck(sessionId);
        this.#scheduleCommitDeadline(purchase);
        break;
      case "unlocked":
      case "vending":
        this.#scheduleSessionTimers(purchase);
        if (purchase.endedVendedCount !== null) {
          await this.#locks.run(sessionId, () =>
            this.#inTransaction((tx, after) => this.#tryFinalize(tx, after, sessionId)),
          );
        }
        break;
      default:
        // committing: the outbox finishes it; terminal states are not listed.
        break;
    }
  }

  // ------------------------------------------------------------------------------------------------ createPurchase

  async createPurchase(request: PurchaseRequest): Promise<CreatePurchaseResult> {
    const result = await this.#createPurchase(request).catch((error: unknown) => {
      this.#log.error({ err: error, token: request.token }, "createPurchase failed");
      return { errorCode: "SYSTEM_ERROR" } as const;
    });
    this.#observer.createPurchase?.("errorCode" in result ? result.errorCode : "OK");
    return result;
  }

  async #createPurchase(request: PurchaseRequest): Promise<CreatePurchaseResult> {
    if (this.#stopped) return { errorCode: "SYSTEM_ERROR" };
    // Past this the caller (SEQR's UPS) has given up: nothing may be left claimed or invoiced for it (defect 7).
    const deadline = this.#clock.now() + (this.#settings.timeouts.createPurchaseMs ?? 4_500);
    const machine = await this.#machines.get(request.token);
    if (!machine) return { errorCode: "DEVICE_UNAVAILABLE" };
    const machineId = machine.machineId;
    const unavailable = await this.#whyUnavailable(machineId);
    if (unavailable !== undefined) {
      // The operator's first question when a machine will not sell, answered in the log.
      this.#log.info({ machineId, reason: unavailable }, "createPurchase: machine unavailable");
      return { errorCode: "DEVICE_UNAVAILABLE" };
    }
    // Not INSUFFICIENT_FUNDS (the offer may be ample), nor the machine out of service: of the five codes SEQR defines,
    // only SYSTEM_ERROR ("any other failure") is true of a currency the machine does not sell in (README).
    if (request.currency !== machine.catalog.currency) return { errorCode: "SYSTEM_ERROR" };
    let offeredMinor: number;
    try {
      offeredMinor = parseDecimalToMinor(request.amount, request.currency);
    } catch {
      return { errorCode: "SYSTEM_ERROR" };
    }
    // Selection first: the customer chose at the machine, which holds the request; reserve exactly that price.
    const chosen = selectionFirstOffer(this.#fleet.lastState(machineId), machine.catalog, this.#clock.now());
    const amountMinor = chosen ? chosen.priceMinor : offeredMinor;
    if (offeredMinor < (chosen ? chosen.priceMinor : cheapestPriceMinor(machine.catalog)))
      return { errorCode: "INSUFFICIENT_FUNDS" };
    if (this.#clock.now() >= deadline) return { errorCode: "SYSTEM_ERROR" };

    const sessionId = newSessionId();
    const claimed = await this.#store.claimMachine({
      sessionId,
      machineId,
      amountMinor,
      currency: request.currency,
      msisdn: request.msisdn,
      notifySecret: newNotifySecret(),
      at: this.#clock.now(),
    });
    if (!claimed) return { errorCode: "DEVICE_IN_USE" };
    const log = this.#log.child({ sessionId, machineId });
    // Whatever goes wrong from here on (a store that fails mid-request included), the claim does not outlive it.
    this.#armStaleClaim(claimed);

    if (this.#clock.now() >= deadline) {
      await this.#releaseClaim(claimed, "createPurchase-deadline", {});
      return { errorCode: "SYSTEM_ERROR" };
    }

    let invoiceReference: string;
    if (chosen) log.info({ selection: chosen.selection, priceMinor: chosen.priceMinor }, "selection first");
    const call = this.#seqr.sendInvoice(
      reservationInvoice(claimed, this.#invoiceContext(claimed), chosen ? chosen.name : undefined),
    );
    try {
      const sent = await withTimeout(
        call,
        Math.min(this.#settings.seqrCallTimeoutMs, deadline - this.#clock.now()),
        this.#clock,
        "sendInvoice",
      );
      invoiceReference = sent.invoiceReference;
    } catch (error) {
      log.warn({ err: error }, "sendInvoice failed: releasing the machine");
      // Flagged in the same write as the release: a bridge killed before a late answer must not forget the invoice.
      const flag = sendInvoiceMayHaveActed(error)
        ? { reason: invoiceReferenceUnknown, detail: { clientInvoiceId: sessionId, error: errorText(error) } }
        : undefined;
      await this.#releaseClaim(claimed, "invoicing-error", { error: errorText(error) }, flag);
      if (error instanceof CallTimeoutError) {
        // SEQR may still create the invoice: once its answer arrives, that invoice is cancelled (not tracked by
        // stop(): an answer that never comes must not hold the shutdown).
        call.then(
          (late) => {
            if (!this.#stopped) this.#spawn(this.#abandonInvoice(claimed, late.invoiceReference), "late invoice");
          },
          () => undefined,
        );
      }
      return { errorCode: "INVOICING_ERROR" };
    }
    if (this.#clock.now() >= deadline) {
      // The answer came in time for SEQR but not for the caller (a pause, a slow event loop): nobody will show this
      // invoice to the customer, so it is cancelled and the machine freed.
      log.warn({ invoiceReference }, "sendInvoice answered after the createPurchase deadline; cancelling the invoice");
      await this.#abandonInvoice(claimed, invoiceReference);
      return { errorCode: "INVOICING_ERROR" };
    }

    const now = this.#clock.now();
    let invoiced: Purchase | undefined;
    try {
      invoiced = await this.#store.transition(
        sessionId,
        ["claimed"],
        "invoiced",
        { invoiceReference, invoicedAt: now },
        { reason: "invoice-sent", detail: { invoiceReference }, at: now },
      );
    } catch (error) {
      // The invoice exists at SEQR but we could not record it: cancel it directly, so nobody pays for nothing, and
      // free the machine (now, or by the stale-claim timer if the store is still failing). UPS hears that invoicing
      // did not work out.
      log.error({ err: error, invoiceReference }, "could not store the invoice reference; cancelling the invoice");
      this.#spawn(this.#seqr.cancelInvoice(invoiceReference), "cancel unrecorded invoice");
      await this.#releaseClaim(claimed, "invoice-not-recorded", { invoiceReference, error: errorText(error) });
      return { errorCode: "INVOICING_ERROR" };
    }
    if (!invoiced) {
      log.error({ invoiceReference }, "the claim was taken away during sendInvoice; cancelling the invoice");
      this.#spawn(this.#seqr.cancelInvoice(invoiceReference), "cancel orphan invoice");
      return { errorCode: "SYSTEM_ERROR" };
    }
    this.#timers.clear(sessionId, "stale-claim");
    this.#schedulePaymentTimers(invoiced, now);
    // Not awaited: UPS wants its answer within about 5 s, and a PUBACK may take up to commandTtlMs. Only the screen
    // text depends on it; the unlock later is what matters.
    this.#spawn(
      this.#fleet
        .send(
          machineId,
          "payment-pending",
          { sessionId, amountMinor, currency: request.currency },
          { ttlMs: this.#settings.timeouts.commandTtlMs },
        )
        .catch((error: unknown) => log.warn({ err: error }, "payment-pending not delivered to the machine")),
      "payment-pending",
    );
    log.info({ invoiceReference, amountMinor }, "invoice sent");
    return { invoiceReferenceId: invoiceReference };
  }

  async #whyUnavailable(machineId: string): Promise<string | undefined> {
    if (!this.#fleet.isOnline(machineId)) return "offline";
    if (this.#fleet.lastState(machineId)?.screen === "out-of-service") return "screen out-of-service";
    const flag = await this.#store.machineUnavailableReason(machineId);
    return flag === undefined ? undefined : `flagged: ${flag}`;
  }

  /**
   * An invoice SEQR created for a createPurchase that was already answered with an error: record its reference on the
   * (released or still claimed) purchase and cancel it through the outbox, so it is cancelled even across a restart.
   */
  async #abandonInvoice(claimed: Purchase, invoiceReference: string): Promise<void> {
    const { sessionId } = claimed;
    await this.#locks.run(sessionId, () =>
      this.#inTransaction(async (tx, after) => {
        const current = await tx.lockPurchase(sessionId);
        if (!current || (current.state !== "claimed" && current.state !== "failed")) return;
        const now = this.#clock.now();
        const audit = { reason: "late-invoice", detail: { invoiceReference }, at: now };
        if (current.state === "claimed") {
          const failed = await tx.transition(
            sessionId,
            ["claimed"],
            "failed",
            { ...this.#closing(current), invoiceReference },
            audit,
          );
          if (failed) {
            after.push(() => {
              this.#timers.clear(sessionId, "stale-claim");
              this.#observer.sessionClosed?.("failed");
            });
          }
        } else {
          // Its reference is known now and its cancel queued below: the flag set when the answer was late is settled.
          await tx.updatePurchase(
            sessionId,
            { invoiceReference, reconciliation: withoutReason(current.reconciliation, invoiceReferenceUnknown) },
            now,
          );
          await tx.appendAudit({
            sessionId,
            machineId: current.machineId,
            fromState: current.state,
            toState: current.state,
            ...audit,
          });
        }
        await tx.enqueueOutbox({
          sessionId,
          kind: "cancelInvoice",
          payload: {},
          at: now,
          deadlineAt: now + this.#settings.commitReservationTimeoutSeconds * 1_000,
        });
        after.push(() => this.#outbox.kick());
      }),
    );
  }

  notificationUrl(notifySecret: string): string {
    return `${this.#settings.publicBaseUrl.replace(/\/+$/, "")}/notify/${notifySecret}`;
  }

  #invoiceContext(purchase: Purchase) {
    return {
      notificationUrl: this.notificationUrl(purchase.notifySecret),
      commitReservationTimeoutSeconds: this.#settings.commitReservationTimeoutSeconds,
    };
  }

  // ------------------------------------------------------------------------------------------------ notifications

  /**
   * A notification from SEQR (the HTTP route has already answered 200). It carries nothing but the URL: the status
   * comes from getPaymentStatus, retried inside the notification window. Unknown, duplicate and late ones change
   * nothing. Resolves when the status check is over.
   */
  async notified(notifySecret: string): Promise<"checked" | "unknown" | "ignored"> {
    if (this.#stopped || !/^[A-Za-z0-9_-]{20,64}$/.test(notifySecret)) return "unknown";
    const purchase = await this.#store.findPurchaseBySecret(notifySecret);
    if (!purchase) {
      this.#log.warn("notification for an unknown session");
      return "unknown";
    }
    // Every notification for a purchase still holding its reservation re-checks the status: SEQR also notifies when
    // the customer cancels or the reservation lapses while the machine is open (issue 15, defect 4).
    if (purchase.state !== "invoiced" && !machineOpen.includes(purchase.state)) {
      this.#log.info({ sessionId: purchase.sessionId, state: purchase.state }, "late or duplicate notification");
      return "ignored";
    }
    await this.#checkStatus(purchase.sessionId, this.#settings.notificationWindowMs ?? 15_000);
    return "checked";
  }

  /** getPaymentStatus until it settles the purchase or the window closes; one check per purchase at a time. */
  #checkStatus(sessionId: string, windowMs: number): Promise<void> {
    const running = this.#statusChecks.get(sessionId);
    if (running !== undefined) return running;
    const check = this.#statusLoop(sessionId, windowMs).finally(() => this.#statusChecks.delete(sessionId));
    this.#statusChecks.set(sessionId, check);
    return check;
  }

  async #statusLoop(sessionId: string, windowMs: number): Promise<void> {
    const deadline = this.#clock.now() + windowMs;
    for (let attempt = 0; !this.#stopped; attempt++) {
      if (await this.#checkStatusOnce(sessionId)) return;
      const pause = Math.min(2_000, 250 * 2 ** attempt);
      if (this.#clock.now() + pause >= deadline) return;
      await this.#sleep(pause);
    }
  }

  /** One getPaymentStatus; true when the answer settled what there was to check. Never throws. */
  async #checkStatusOnce(sessionId: string): Promise<boolean> {
    const purchase = await this.#store.getPurchase(sessionId);
    if (!purchase?.invoiceReference) return true;
    if (purchase.state !== "invoiced" && !machineOpen.includes(purchase.state)) return true;
    let status: PaymentStatus;
    try {
      status = await withTimeout(
        this.#seqr.getPaymentStatus(purchase.invoiceReference, purchase.statusVersion),
        Math.min(this.#settings.seqrCallTimeoutMs, 5_000),
        this.#clock,
        "getPaymentStatus",
      );
    } catch (error) {
      this.#log.warn({ sessionId, err: error }, "getPaymentStatus failed");
      return false;
    }
    return this.#locks.run(sessionId, () => this.#applyStatus(sessionId, status));
  }

  async #applyStatus(sessionId: string, status: PaymentStatus): Promise<boolean> {
    let settled = true;
    await this.#inTransaction(async (tx, after) => {
      const now = this.#clock.now();
      const purchase = await tx.lockPurchase(sessionId);
      if (purchase && machineOpen.includes(purchase.state)) {
        await this.#applyStatusWhileOpen(tx, after, purchase, status);
        return;
      }
      if (purchase?.state !== "invoiced") return;
      switch (status.status) {
        case "RESERVED": {
          // The unlock's expiry is stored before the unlock goes: whoever decides later on a cancellation knows
          // until when the machine may act on it.
          const unlockExpiresAt = now + this.#settings.timeouts.commandTtlMs;
          const reserved = await tx.transition(
            sessionId,
            ["invoiced"],
            "reserved",
            {
              reservedAt: now,
              statusVersion: status.version,
              unlockCommandId: unlockCommandIdFor(sessionId),
              unlockExpiresAt,
            },
            { reason: "payment-reserved", detail: { version: status.version }, at: now },
          );
          if (!reserved) return;
          after.push(async () => {
            this.#timers.clear(sessionId, "poll");
            this.#timers.clear(sessionId, "payment-deadline");
            this.#scheduleCommitDeadline(reserved);
            await this.#sendUnlock(reserved, unlockExpiresAt);
          });
          return;
        }
        case "CANCELED":
        case "FAILED":
        case "EXPIRED": {
          const cancelled = await tx.transition(sessionId, ["invoiced"], "cancelled", this.#closing(purchase), {
            reason: `payment-${status.status.toLowerCase()}`,
            at: now,
          });
          if (cancelled) after.push(() => this.#closed(cancelled, "cancelled", "customer-cancelled"));
          return;
        }
        case "PAID": {
          // Reservation mode never pays before our commit: someone must look at it.
          const failed = await tx.transition(sessionId, ["invoiced"], "failed", this.#closing(purchase), {
            reason: "paid-without-reservation",
            at: now,
          });
          if (!failed) return;
          await tx.flagReconciliation(sessionId, "paid-without-reservation", now);
          after.push(() => this.#closed(failed, "failed", "system"));
          return;
        }
        default:
          if (status.version !== purchase.statusVersion) {
            await tx.updatePurchase(sessionId, { statusVersion: status.version }, now);
          }
          settled = false;
      }
    });
    return settled;
  }

  /**
   * The status of a reservation the machine may be using. Still RESERVED: nothing to do. Gone at SEQR (the customer
   * cancelled, it expired or failed): nothing can be committed any more, so the machine is told to cancel at once.
   * Vends already stored are flagged with their figures (they cannot be billed); later ones are flagged on arrival.
   */
  async #applyStatusWhileOpen(tx: StoreOps, after: AfterCommit[], purchase: Purchase, status: PaymentStatus) {
    const now = this.#clock.now();
    const { sessionId } = purchase;
    if (status.version !== purchase.statusVersion) {
      await tx.updatePurchase(sessionId, { statusVersion: status.version }, now);
    }
    if (status.status !== "CANCELED" && status.status !== "EXPIRED" && status.status !== "FAILED") return;
    const reason = `reservation-${status.status.toLowerCase()}`;
    const machineReason: EventPayloadCancelReason = status.status === "CANCELED" ? "customer-cancelled" : "system";
    const vends = billableVends(purchase, await tx.listVends(sessionId));
    if (vends.length === 0) {
      // SEQR's invoice is already closed: no cancelInvoice.
      const cancelled = await this.#cancel(tx, after, purchase, reason, false);
      if (cancelled) after.push(() => this.#closed(cancelled, "cancelled", machineReason));
      return;
    }
    const failed = await tx.transition(sessionId, machineOpen, "failed", this.#closing(purchase), {
      reason,
      detail: { status: status.status },
      at: now,
    });
    if (!failed) return;
    await tx.flagReconciliation(sessionId, "reservation-lost-with-vends", now, {
      status: status.status,
      vendedMinor: sumMinor(vends),
      vends: vends.map((vend) => vend.vendId),
    });
    after.push(() => this.#closed(failed, "failed", machineReason));
  }

  // ------------------------------------------------------------------------------------------------ timers

  #schedulePaymentTimers(purchase: Purchase, now: number): void {
    const { sessionId } = purchase;
    const invoicedAt = purchase.invoicedAt ?? now;
    this.#timers.setAt(sessionId, "poll", now + this.#settings.timeouts.statusPollIntervalMs, () =>
      this.#spawn(this.#poll(sessionId), "status poll"),
    );
    this.#timers.setAt(sessionId, "payment-deadline", invoicedAt + this.#settings.timeouts.paymentConfirmMs, () =>
      this.#spawn(this.#onPaymentDeadline(sessionId), "payment deadline"),
    );
  }

  async #poll(sessionId: string): Promise<void> {
    if (this.#statusChecks.has(sessionId)) await this.#statusChecks.get(sessionId);
    else await this.#checkStatusOnce(sessionId);
    const purchase = await this.#store.getPurchase(sessionId);
    if (!this.#stopped && purchase?.state === "invoiced" && this.#timers.has(sessionId, "payment-deadline")) {
      this.#timers.setAt(sessionId, "poll", this.#clock.now() + this.#settings.timeouts.statusPollIntervalMs, () =>
        this.#spawn(this.#poll(sessionId), "status poll"),
      );
    }
  }

  /** The customer has not confirmed in time: one last look, then cancel the invoice and free the machine. */
  async #onPaymentDeadline(sessionId: string): Promise<void> {
    this.#timers.clear(sessionId, "poll");
    await this.#checkStatusOnce(sessionId);
    await this.#locks.run(sessionId, () =>
      this.#inTransaction(async (tx, after) => {
        const purchase = await tx.lockPurchase(sessionId);
        if (purchase?.state !== "invoiced") return;
        const cancelled = await this.#cancel(tx, after, purchase, "payment-timeout", true);
        if (cancelled) after.push(() => this.#closed(cancelled, "cancelled", "payment-timeout"));
      }),
    );
  }

  /**
   * The machine did not acknowledge the unlock in time: stop offering it, but keep the reservation. The unlock may
   * still be honoured (a slow link, a slow SD card) until it expires: what the machine reports then is committed as
   * usual, and the unlock-expiry timer cancels only when nothing was reported (issue 15, defect 3).
   */
  async #onUnlockAckTimeout(sessionId: string): Promise<void> {
    await this.#locks.run(sessionId, () =>
      this.#inTransaction(async (tx) => {
        const purchase = await tx.lockPurchase(sessionId);
        if (purchase?.state !== "reserved") return;
        // Declared once per (re)send: by this timer, or by a sweep when the timer died with its instance.
        if (await this.#declared(tx, sessionId, "unlock-not-acknowledged", this.#unlockSentAt(purchase))) return;
        const now = this.#clock.now();
        await tx.setMachineUnavailable(purchase.machineId, "unlock-not-acknowledged", now);
        await tx.appendAudit({
          sessionId,
          machineId: purchase.machineId,
          fromState: purchase.state,
          toState: purchase.state,
          reason: "unlock-not-acknowledged",
          detail: { unlockExpiresAt: purchase.unlockExpiresAt },
          at: now,
        });
      }),
    );
  }

  /** Whether the audit log says `reason` after `since` (one at a resend's very millisecond is about the unlock before). */
  async #declared(tx: StoreOps, sessionId: string, reason: string, since: number): Promise<boolean> {
    return (await tx.listAudit(sessionId)).some((entry) => entry.reason === reason && entry.at > since);
  }

  /** When the latest unlock was sent: its expiry is stored before each (re)send, one command TTL ahead. */
  #unlockSentAt(purchase: Purchase): number {
    return purchase.unlockExpiresAt === null
      ? (purchase.reservedAt ?? purchase.updatedAt)
      : purchase.unlockExpiresAt - this.#settings.timeouts.commandTtlMs;
  }

  /** Until when the machine may act on the latest unlock, on our clock: its expiresAt plus the allowed skew. */
  #unlockHonourableUntil(purchase: Purchase): number {
    const expiresAt =
      purchase.unlockExpiresAt ?? (purchase.reservedAt ?? purchase.updatedAt) + this.#settings.timeouts.commandTtlMs;
    return expiresAt + this.#clockSkewMs();
  }

  #clockSkewMs(): number {
    return this.#settings.timeouts.clockSkewMs ?? 60_000;
  }

  #armUnlockExpiry(purchase: Purchase): void {
    this.#timers.setAt(purchase.sessionId, "unlock-expiry", this.#unlockHonourableUntil(purchase), () =>
      this.#spawn(this.#onUnlockExpired(purchase.sessionId), "unlock expiry"),
    );
  }

  /**
   * No unlock can be honoured any more: if the machine reported nothing at all for the session, cancel the
   * reservation (and tell the machine, in case a late unlock reaches it after all).
   */
  async #onUnlockExpired(sessionId: string): Promise<void> {
    await this.#locks.run(sessionId, () =>
      this.#inTransaction(async (tx, after) => {
        const purchase = await tx.lockPurchase(sessionId);
        if (purchase?.state !== "reserved") return;
        const now = this.#clock.now();
        if (now < this.#unlockHonourableUntil(purchase)) {
          // Resent meanwhile (another instance, or a reconnect): the newer unlock has its own timer.
          after.push(() => this.#armUnlockExpiry(purchase));
          return;
        }
        // A vend-failed or vend-unknown report means the machine did act on the unlock: the commit path decides.
        if ((await tx.listVends(sessionId)).length > 0) return;
        const cancelled = await this.#cancel(tx, after, purchase, "unlock-expired-unacknowledged", true);
        if (!cancelled) return;
        await tx.setMachineUnavailable(purchase.machineId, "unlock-not-acknowledged", now);
        after.push(() => this.#closed(cancelled, "cancelled", "unlock-timeout"));
      }),
    );
  }

  /** An unlock is worth sending only if all it may allow can still be billed before the session is forced closed. */
  #unlockCanBeHonoured(purchase: Purchase, expiresAt: number): boolean {
    return expiresAt + this.#clockSkewMs() < this.#commitDeadline(purchase) - this.#commitMarginMs();
  }

  #scheduleSessionTimers(purchase: Purchase): void {
    const unlockedAt = purchase.unlockedAt ?? this.#clock.now();
    this.#timers.clear(purchase.sessionId, "unlock-ack");
    this.#timers.clear(purchase.sessionId, "unlock-expiry");
    this.#timers.setAt(purchase.sessionId, "session-max", unlockedAt + this.#settings.timeouts.sessionMaxMs, () =>
      this.#spawn(this.#onSessionMax(purchase.sessionId), "session max"),
    );
    this.#scheduleCommitDeadline(purchase);
  }

  /** The machine never reported the end of the session: ask it to end (it then reports session-ended). */
  async #onSessionMax(sessionId: string): Promise<void> {
    // Asked once: the sweep does not ask again for a session this instance's own timer already did.
    this.#sweptSessionMax.add(sessionId);
    await this.#locks.run(sessionId, () =>
      this.#inTransaction(async (tx, after) => {
        const purchase = await tx.lockPurchase(sessionId);
        if (!purchase || !["unlocked", "vending"].includes(purchase.state)) return;
        // Another instance's timer (or sweep) may have asked already: the machine is asked once per session.
        if (await this.#declared(tx, sessionId, "session-max-exceeded", 0)) return;
        await tx.appendAudit({
          sessionId,
          machineId: purchase.machineId,
          fromState: purchase.state,
          toState: purchase.state,
          reason: "session-max-exceeded",
          at: this.#clock.now(),
        });
        after.push(() => this.#sendCancel(purchase, "system"));
      }),
    );
  }

  /**
   * When the reservation must be committed by; the outbox's calls run until then. SEQR's commitReservationTimeout
   * runs from when it created the invoice, not from when we saw RESERVED (issue 15, defect 9).
   */
  #commitDeadline(purchase: Purchase): number {
    const start = purchase.invoicedAt ?? purchase.createdAt;
    return start + this.#settings.commitReservationTimeoutSeconds * 1_000;
  }

  /** Time kept between forcing the end of a session and the reservation's expiry, for the outbox to commit. */
  #commitMarginMs(): number {
    return Math.min(60_000, (this.#settings.commitReservationTimeoutSeconds * 1_000) / 5);
  }

  #scheduleCommitDeadline(purchase: Purchase): void {
    this.#timers.setAt(
      purchase.sessionId,
      "commit-deadline",
      this.#commitDeadline(purchase) - this.#commitMarginMs(),
      () => this.#spawn(this.#onCommitDeadline(purchase.sessionId), "commit deadline"),
    );
  }

  /**
   * The reservation is about to expire and the session is still open (or its `vended` events are missing): bill what
   * is stored now, never more, and flag the purchase for reconciliation.
   */
  async #onCommitDeadline(sessionId: string): Promise<void> {
    await this.#locks.run(sessionId, () =>
      this.#inTransaction(async (tx, after) => {
        const purchase = await tx.lockPurchase(sessionId);
        if (!purchase || !machineOpen.includes(purchase.state)) return;
        await tx.flagReconciliation(sessionId, "commit-deadline", this.#clock.now(), {
          endedVendedCount: purchase.endedVendedCount,
        });
        if (purchase.endedVendedCount === null) after.push(() => this.#sendCancel(purchase, "system"));
        await this.#tryFinalize(tx, after, sessionId, { forced: true });
      }),
    );
  }

  /** A claim that is still `claimed` after any sendInvoice could have ended is released (fails) by this timer. */
  #armStaleClaim(purchase: Purchase): void {
    this.#timers.setAt(purchase.sessionId, "stale-claim", purchase.createdAt + this.#staleClaimMs(), () =>
      this.#spawn(this.#failStaleClaim(purchase.sessionId), "stale claim"),
    );
  }

  /** Frees the machine of a claim that got no invoice; if the store fails now, the stale-claim timer does it later. */
  async #releaseClaim(
    claimed: Purchase,
    reason: string,
    detail: Record<string, unknown>,
    flag?: { reason: string; detail: Record<string, unknown> },
  ): Promise<void> {
    try {
      const audit = { reason, detail, at: this.#clock.now() };
      const failed = flag
        ? await this.#store.transaction(async (tx) => {
            const moved = await tx.transition(claimed.sessionId, ["claimed"], "failed", this.#closing(claimed), audit);
            if (moved) await tx.flagReconciliation(claimed.sessionId, flag.reason, audit.at, flag.detail);
            return moved;
          })
        : await this.#store.transition(claimed.sessionId, ["claimed"], "failed", this.#closing(claimed), audit);
      this.#timers.clear(claimed.sessionId, "stale-claim");
      if (failed) this.#observer.sessionClosed?.("failed");
    } catch (error) {
      this.#log.error({ err: error, sessionId: claimed.sessionId }, "could not release the claim; the timer will");
    }
  }

  async #failStaleClaim(sessionId: string): Promise<void> {
    await this.#locks.run(sessionId, async () => {
      try {
        const purchase = await this.#store.getPurchase(sessionId);
        if (purchase?.state !== "claimed") return;
        // No invoice reference was stored: if SEQR created one (a bridge killed inside sendInvoice), it was never
        // shown to the customer and holds no money, but only SEQR's report can name it: flagged for a person.
        const at = this.#clock.now();
        const failed = await this.#store.transaction(async (tx) => {
          const moved = await tx.transition(sessionId, ["claimed"], "failed", this.#closing(purchase), {
            reason: "stale-claim",
            at,
          });
          if (moved)
            await tx.flagReconciliation(sessionId, invoiceReferenceUnknown, at, { clientInvoiceId: sessionId });
          return moved;
        });
        if (failed) this.#observer.sessionClosed?.("failed");
      } catch (error) {
        // The store is still failing: try again later rather than hold the machine until a restart.
        if (this.#stopped) throw error;
        this.#log.error({ err: error, sessionId }, "could not release a stale claim; retrying");
        this.#timers.setAt(sessionId, "stale-claim", this.#clock.now() + staleClaimRetryMs, () =>
          this.#spawn(this.#failStaleClaim(sessionId), "stale claim"),
        );
      }
    });
  }

  #staleClaimMs(): number {
    return this.#settings.seqrCallTimeoutMs * 2 + 5_000;
  }

  // ------------------------------------------------------------------------------------------------ fleet events

  /**
   * One event from a machine. Resolves once its effect is stored (then the link acknowledges it to the agent);
   * rejects when it could not be stored (no ack: the agent resends it). Replays are recognised by event id.
   */
  handleEvent(event: FleetEvent): Promise<DeferredDurability | undefined> {
    const sessionId = (event.payload as { sessionId?: string | null }).sessionId ?? null;
    return this.#locks.run(sessionId ?? `machine:${event.machineId}`, async () => {
      // The price lists a vend is billed against, read before the transaction (the registry may read the store).
      const machine = event.name === "vended" ? await this.#machines.get(event.machineId) : undefined;
      const durable = !eventsMovingNoMoney.has(event.name);
      await this.#inTransaction((tx, after) => this.#applyEvent(tx, after, event, sessionId, machine), { durable });
      return durable ? undefined : { durable: this.#store.whenDurable() };
    });
  }

  async #applyEvent(
    tx: StoreOps,
    after: AfterCommit[],
    event: FleetEvent,
    sessionId: string | null,
    machine: RegisteredMachine | undefined,
  ): Promise<void> {
    const now = this.#clock.now();
    const { machineId } = event;
    const payload = event.payload as { eventId: string };
    // The purchase's row first: another instance handling an event of the same session waits for our commit, and we
    // for its (PostgreSQL), so neither decides on a state the other is changing.
    const purchase = sessionId === null ? undefined : await tx.lockPurchase(sessionId);
    if (!(await tx.markEventSeen(machineId, payload.eventId, event.name, sessionId, now))) return;
    const flag = machineFlagChange(event);
    if (flag?.kind === "set") await tx.setMachineUnavailable(machineId, flag.reason, now);
    if (flag?.kind === "clear") {
      await tx.clearMachineUnavailable(machineId);
      // Back in service: an unlock it never answered goes again (same command id, so never acted on twice).
      after.push(() => this.#spawn(this.#resendUnlock(machineId), "resend unlock"));
    }
    if (event.name === "fault" || event.name === "pong" || event.name === "in-service") return;
    if (sessionId === null) return;
    if (!purchase || purchase.machineId !== machineId) {
      this.#log.warn({ machineId, sessionId, event: event.name }, "event for a session this machine does not hold");
      return;
    }
    switch (event.name) {
      case "unlocked":
        return this.#onUnlocked(tx, after, purchase);
      case "vend-started":
        if (purchase.state === "reserved" || purchase.state === "unlocked") {
          const vending = await tx.transition(
            sessionId,
            ["reserved", "unlocked"],
            "vending",
            this.#unlockedNow(purchase, now),
            {
              reason: "vend-started",
              detail: { vendId: (event.payload as EventPayload<"vend-started">).vendId },
              at: now,
            },
          );
          if (vending) after.push(() => this.#scheduleSessionTimers(vending));
        }
        return;
      case "vended":
        return this.#onVended(tx, after, purchase, event.payload as EventPayload<"vended">, machine);
      case "vend-failed":
      case "vend-unknown":
        return this.#onVendNotBilled(tx, purchase, event.name, event.payload as EventPayload<"vend-failed">);
      case "session-ended":
        return this.#onSessionEnded(tx, after, purchase, event.payload as EventPayload<"session-ended">);
      case "command-rejected":
        return this.#onCommandRejected(tx, after, purchase, event.payload as EventPayload<"command-rejected">);
      default:
        return;
    }
  }

  #unlockedNow(purchase: Purchase, now: number): PurchaseChanges {
    return purchase.unlockedAt === null ? { unlockedAt: now } : {};
  }

  async #onUnlocked(
    tx: StoreOps,
    after: AfterCommit[],
    purchase: Purchase,
    reason: "unlocked" | "unlock-replayed" = "unlocked",
  ): Promise<void> {
    const now = this.#clock.now();
    if (purchase.state === "reserved") {
      const unlocked = await tx.transition(
        purchase.sessionId,
        ["reserved"],
        "unlocked",
        { unlockedAt: now },
        {
          reason,
          at: now,
        },
      );
      await tx.clearMachineUnavailable(purchase.machineId);
      if (unlocked) after.push(() => this.#scheduleSessionTimers(unlocked));
    } else if (purchase.state === "cancelled" || purchase.state === "failed") {
      // Unlocked after we gave up (and cancelled the reservation): the machine must not vend on it.
      after.push(() => this.#sendCancel(purchase, "system"));
    }
  }

  async #onVended(
    tx: StoreOps,
    after: AfterCommit[],
    purchase: Purchase,
    vend: EventPayload<"vended">,
    machine: RegisteredMachine | undefined,
  ): Promise<void> {
    const now = this.#clock.now();
    // The catalog of the purchase's creation: a price changed in the console meanwhile applies to the next purchase
    // (the agent, too, refuses a new catalog while a session is open).
    const catalog = machine ? catalogInForce(machine, purchase.createdAt) : undefined;
    const price = vendPrice(catalog, vend.selection, vend.priceMinor);
    const stored = await tx.insertVend({
      sessionId: purchase.sessionId,
      vendId: vend.vendId,
      eventId: vend.eventId,
      selection: vend.selection,
      sku: vend.sku,
      name: vend.name,
      priceMinor: price.priceMinor,
      reportedPriceMinor: price.priceMinor === vend.priceMinor ? null : vend.priceMinor,
      currency: vend.currency,
      outcome: "vended",
      evidence: vend.evidence,
      at: now,
    });
    if (stored === "conflict") {
      await tx.flagReconciliation(purchase.sessionId, "vend-outcome-conflict", now, { vendId: vend.vendId });
      return;
    }
    if (stored === "duplicate") return;
    if (price.flag !== null) {
      await tx.flagReconciliation(purchase.sessionId, price.flag, now, {
        vendId: vend.vendId,
        selection: vend.selection,
        reportedPriceMinor: vend.priceMinor,
        catalogPriceMinor: price.catalogPriceMinor,
        billedPriceMinor: price.priceMinor,
      });
    }
    if (vend.currency !== purchase.currency) {
      await tx.flagReconciliation(purchase.sessionId, "vend-currency-mismatch", now, { vendId: vend.vendId });
    }
    if (!machineOpen.includes(purchase.state)) {
      // Billing is closed (forced at the commit deadline, or cancelled): this vend is not charged.
      await tx.flagReconciliation(purchase.sessionId, "vended-after-close", now, {
        vendId: vend.vendId,
        selection: vend.selection,
        priceMinor: vend.priceMinor,
        evidence: vend.evidence,
        state: purchase.state,
      });
      return;
    }
    const vending = await tx.transition(purchase.sessionId, machineOpen, "vending", this.#unlockedNow(purchase, now), {
      reason: "vended",
      detail: { vendId: vend.vendId, priceMinor: price.priceMinor, sku: vend.sku },
      at: now,
    });
    if (!vending) {
      // Lost a race after all (the row is locked first, so only a store without row locks gets here): whatever moved
      // the purchase may have been waiting for this very vend to finish the session.
      await this.#tryFinalize(tx, after, purchase.sessionId);
      return;
    }
    const billedSoFar = sumMinor(billableVends(vending, await tx.listVends(purchase.sessionId)));
    if (billedSoFar > vending.amountMinor) {
      await tx.flagReconciliation(purchase.sessionId, "vended-above-reservation", now, { billedSoFar });
    }
    // The invoice rows follow each vend; the row is re-armed so the latest rows are what SEQR ends up with.
    await tx.enqueueOutbox({
      sessionId: purchase.sessionId,
      kind: "updateInvoice",
      payload: {},
      at: now,
      deadlineAt: this.#commitDeadline(vending) - this.#commitMarginMs() / 2,
      rearm: true,
    });
    after.push(() => this.#outbox.kick());
    if (purchase.state !== "vending") after.push(() => this.#scheduleSessionTimers(vending));
    if (vending.endedVendedCount !== null) await this.#tryFinalize(tx, after, purchase.sessionId);
  }

  async #onVendNotBilled(
    tx: StoreOps,
    purchase: Purchase,
    name: "vend-failed" | "vend-unknown",
    vend: EventPayload<"vend-failed"> | EventPayload<"vend-unknown">,
  ): Promise<void> {
    const now = this.#clock.now();
    const stored = await tx.insertVend({
      sessionId: purchase.sessionId,
      vendId: vend.vendId,
      eventId: vend.eventId,
      selection: vend.selection,
      sku: null,
      name: null,
      priceMinor: vend.priceMinor,
      currency: vend.currency,
      outcome: name === "vend-failed" ? "failed" : "unknown",
      evidence: vend.evidence,
      at: now,
    });
    if (stored === "conflict") {
      await tx.flagReconciliation(purchase.sessionId, "vend-outcome-conflict", now, { vendId: vend.vendId });
    } else if (stored === "inserted" && name === "vend-unknown") {
      // Design §4.2: an unknown outcome is never billed automatically; a person decides.
      await tx.flagReconciliation(purchase.sessionId, "unknown-vend", now, {
        vendId: vend.vendId,
        priceMinor: vend.priceMinor,
      });
    } else if (stored === "inserted") {
      await tx.appendAudit({
        sessionId: purchase.sessionId,
        machineId: purchase.machineId,
        fromState: purchase.state,
        toState: purchase.state,
        reason: "vend-failed",
        detail: { vendId: vend.vendId, outcome: "outcome" in vend ? vend.outcome : "failed" },
        at: now,
      });
    }
  }

  async #onSessionEnded(
    tx: StoreOps,
    after: AfterCommit[],
    purchase: Purchase,
    ended: EventPayload<"session-ended">,
  ): Promise<void> {
    const now = this.#clock.now();
    if (purchase.state === "invoiced") {
      // The machine gave up waiting for the payment: cancel the invoice too.
      const cancelled = await this.#cancel(tx, after, purchase, `machine-ended:${ended.reason}`, true);
      if (cancelled) after.push(() => this.#closed(cancelled, "cancelled", null));
      return;
    }
    if (!machineOpen.includes(purchase.state) || purchase.endedVendedCount !== null) return;
    await tx.updatePurchase(
      purchase.sessionId,
      {
        endedVendedCount: ended.vendedCount,
        endedVendedTotalMinor: ended.vendedTotalMinor,
        endedUnknownCount: ended.unknownCount,
        endReason: ended.reason,
      },
      now,
    );
    await tx.appendAudit({
      sessionId: purchase.sessionId,
      machineId: purchase.machineId,
      fromState: purchase.state,
      toState: purchase.state,
      reason: "session-ended",
      detail: { reason: ended.reason, vendedCount: ended.vendedCount, vendedTotalMinor: ended.vendedTotalMinor },
      at: now,
    });
    await this.#tryFinalize(tx, after, purchase.sessionId);
    if (purchase.state === "reserved") {
      // The machine ended the session before our unlock reached it (it gave up waiting for the payment): that unlock
      // may still be on its way, and must not open a session the bridge has just closed.
      const settled = await tx.getPurchase(purchase.sessionId);
      if (settled?.state === "cancelled") after.push(() => this.#sendCancel(purchase, "payment-timeout"));
    }
  }

  async #onCommandRejected(
    tx: StoreOps,
    after: AfterCommit[],
    purchase: Purchase,
    rejected: EventPayload<"command-rejected">,
  ): Promise<void> {
    const now = this.#clock.now();
    await tx.appendAudit({
      sessionId: purchase.sessionId,
      machineId: purchase.machineId,
      fromState: purchase.state,
      toState: purchase.state,
      reason: `command-rejected:${rejected.command}`,
      detail: { reason: rejected.reason, commandId: rejected.commandId, detail: rejected.detail },
      at: now,
    });
    if (rejected.command !== "unlock") return;
    if (rejected.reason === "replayed") {
      // The machine refuses our resent unlock because it already has that very command: it holds the unlock, which is
      // the acknowledgement (its own `unlocked` event, if it comes later, is then a harmless duplicate).
      if (rejected.commandId !== null && rejected.commandId === this.#unlockCommandId(purchase)) {
        await this.#onUnlocked(tx, after, purchase, "unlock-replayed");
      }
      return;
    }
    // Anything else means it will not unlock.
    if (purchase.state !== "reserved") return;
    if (rejected.commandId !== null && rejected.commandId !== purchase.unlockCommandId) return;
    const cancelled = await this.#cancel(tx, after, purchase, `unlock-rejected:${rejected.reason}`, true);
    if (!cancelled) return;
    if (["out-of-service", "bad-signature"].includes(rejected.reason)) {
      await tx.setMachineUnavailable(purchase.machineId, `unlock-rejected:${rejected.reason}`, now);
    }
    after.push(() => this.#closed(cancelled, "cancelled", "system"));
  }

  // ------------------------------------------------------------------------------------------------ closing

  /**
   * Ends billing once every `vended` event the machine announced is stored (or, forced, with what is stored):
   * commit the sum of confirmed vends, never more than reserved, or cancel the invoice when nothing was vended.
   */
  async #tryFinalize(
    tx: StoreOps,
    after: AfterCommit[],
    sessionId: string,
    options: { forced?: boolean } = {},
  ): Promise<void> {
    const purchase = await tx.lockPurchase(sessionId);
    if (!purchase || !machineOpen.includes(purchase.state)) return;
    const now = this.#clock.now();
    const vends = await tx.listVends(sessionId);
    const billable = billableVends(purchase, vends);
    if (!options.forced && (purchase.endedVendedCount === null || billable.length < purchase.endedVendedCount)) {
      return;
    }
    if (purchase.endedVendedCount !== null && billable.length < purchase.endedVendedCount) {
      await tx.flagReconciliation(sessionId, "vended-events-missing", now, {
        announced: purchase.endedVendedCount,
        stored: billable.length,
      });
    }
    const vendedMinor = sumMinor(billable);
    if (purchase.endedVendedTotalMinor !== null && purchase.endedVendedTotalMinor !== vendedMinor) {
      await tx.flagReconciliation(sessionId, "vended-total-mismatch", now, {
        machineTotalMinor: purchase.endedVendedTotalMinor,
        storedTotalMinor: vendedMinor,
      });
    }
    const billedMinor = Math.min(vendedMinor, purchase.amountMinor);
    if (billedMinor === 0) {
      const cancelled = await this.#cancel(tx, after, purchase, "nothing-vended", true);
      if (cancelled) after.push(() => this.#closed(cancelled, "cancelled", null));
      return;
    }
    const committing = await tx.transition(
      sessionId,
      machineOpen,
      "committing",
      { ...this.#closing(purchase), billedMinor },
      { reason: "session-closed", detail: { billedMinor, vends: billable.length }, at: now },
    );
    if (!committing) return;
    const deadlineAt = this.#commitDeadline(committing);
    // The rows follow each vend: once the latest vend's update is done, a final one would repeat it word for word.
    // Pending, it sends the latest rows anyway; given up, it gets another chance now.
    if ((await tx.getOutbox(sessionId, "updateInvoice"))?.status !== "done") {
      await tx.enqueueOutbox({
        sessionId,
        kind: "updateInvoice",
        payload: { final: true },
        at: now,
        deadlineAt,
        rearm: true,
      });
    }
    await tx.enqueueOutbox({
      sessionId,
      kind: "commitReservation",
      payload: { amountMinor: billedMinor, currency: purchase.currency },
      at: now,
      deadlineAt,
    });
    after.push(() => {
      this.#timers.clear(sessionId);
      this.#outbox.kick();
    });
  }

  /** Moves a purchase holding its machine to `cancelled`, with a cancelInvoice in the outbox when an invoice exists. */
  async #cancel(
    tx: StoreOps,
    after: AfterCommit[],
    purchase: Purchase,
    reason: string,
    cancelInvoice: boolean,
  ): Promise<Purchase | undefined> {
    const now = this.#clock.now();
    const cancelled = await tx.transition(purchase.sessionId, holding, "cancelled", this.#closing(purchase), {
      reason,
      at: now,
    });
    if (!cancelled) return undefined;
    if (cancelInvoice && purchase.invoiceReference) {
      await tx.enqueueOutbox({
        sessionId: purchase.sessionId,
        kind: "cancelInvoice",
        payload: {},
        at: now,
        deadlineAt: this.#commitDeadline(purchase),
      });
      after.push(() => this.#outbox.kick());
    }
    return cancelled;
  }

  /** Fields written when a purchase stops holding its machine: the phone number is not kept past the session. */
  #closing(purchase: Purchase): PurchaseChanges {
    const changes: PurchaseChanges = { closedAt: this.#clock.now() };
    if (!this.#settings.keepMsisdn && purchase.msisdn !== null) changes.msisdn = maskMsisdn(purchase.msisdn);
    return changes;
  }

  /** After a purchase closed without commit: drop its timers, tell the machine, count it. */
  async #closed(
    purchase: Purchase,
    outcome: "cancelled" | "failed",
    cancelReason: EventPayloadCancelReason | null,
  ): Promise<void> {
    this.#timers.clear(purchase.sessionId);
    this.#observer.sessionClosed?.(outcome);
    if (cancelReason) await this.#sendCancel(purchase, cancelReason);
  }

  // ------------------------------------------------------------------------------------------------ machine commands

  /** The unlock-ack timer runs from the latest (re)send: a resend after a reconnect gets the full time to answer. */
  #armUnlockAck(sessionId: string): void {
    this.#timers.setAt(sessionId, "unlock-ack", this.#clock.now() + this.#settings.timeouts.unlockAckMs, () =>
      this.#spawn(this.#onUnlockAckTimeout(sessionId), "unlock ack timeout"),
    );
  }

  /**
   * Sends (or resends) the unlock. Its expiry is stored first (`recordedExpiresAt`: already stored with the
   * transition). An unlock that could be honoured past the point where the session is forced closed is not sent at
   * all (after an outage longer than the commit window): the unlock-expiry and commit-deadline timers end it.
   */
  async #sendUnlock(purchase: Purchase, recordedExpiresAt?: number): Promise<void> {
    const { sessionId } = purchase;
    let expiresAt = recordedExpiresAt;
    if (expiresAt === undefined) {
      const now = this.#clock.now();
      expiresAt = now + this.#settings.timeouts.commandTtlMs;
      if (!this.#unlockCanBeHonoured(purchase, expiresAt)) {
        this.#log.warn({ sessionId }, "unlock not (re)sent: the reservation could not be committed after it");
        this.#armUnlockExpiry(purchase);
        return;
      }
      await this.#store.updatePurchase(sessionId, { unlockExpiresAt: expiresAt }, now);
    }
    this.#armUnlockAck(sessionId);
    this.#armUnlockExpiry({ ...purchase, unlockExpiresAt: expiresAt });
    try {
      await this.#fleet.send(
        purchase.machineId,
        "unlock",
        { sessionId: purchase.sessionId, budgetMinor: purchase.amountMinor, currency: purchase.currency },
        {
          ttlMs: this.#settings.timeouts.commandTtlMs,
          commandId: this.#unlockCommandId(purchase),
        },
      );
    } catch (error) {
      // The unlock-ack timer cancels the reservation if the machine never confirms.
      this.#log.warn({ sessionId: purchase.sessionId, err: error }, "unlock not delivered to the broker");
    }
  }

  #unlockCommandId(purchase: Purchase): string {
    return purchase.unlockCommandId ?? unlockCommandIdFor(purchase.sessionId);
  }

  /** The machine (re)appeared online while its purchase waits for the unlock's acknowledgement: send it again. */
  async #resendUnlock(machineId: string): Promise<void> {
    const holder = await this.#store.holderOf(machineId);
    if (holder?.state !== "reserved") return;
    this.#log.info(
      { sessionId: holder.sessionId, machineId },
      "machine online with an unacknowledged unlock: resending",
    );
    await this.#sendUnlock(holder);
  }

  async #sendCancel(purchase: Purchase, reason: EventPayloadCancelReason): Promise<void> {
    try {
      await this.#fleet.send(
        purchase.machineId,
        "cancel",
        { sessionId: purchase.sessionId, reason },
        { ttlMs: this.#settings.timeouts.commandTtlMs },
      );
    } catch (error) {
      this.#log.warn({ sessionId: purchase.sessionId, err: error }, "cancel not delivered to the machine");
    }
  }

  // ------------------------------------------------------------------------------------------------ plumbing

  /** Runs `work` in one store transaction; the actions it queues run only after the commit. */
  async #inTransaction(
    work: (tx: StoreOps, after: AfterCommit[]) => Promise<void>,
    options?: TransactionOptions,
  ): Promise<void> {
    const after: AfterCommit[] = [];
    await this.#store.transaction((tx) => work(tx, after), options);
    for (const action of after) {
      try {
        await action();
      } catch (error) {
        this.#log.error({ err: error }, "action after a stored transition failed");
      }
    }
  }

  #spawn(work: Promise<unknown>, what: string): void {
    const tracked = work.catch((error: unknown) => this.#log.error({ err: error }, `${what} failed`));
    this.#background.add(tracked);
    void tracked.finally(() => this.#background.delete(tracked));
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.#clock.setTimeout(resolve, ms);
    });
  }
}

/** A comma-separated reconciliation flag without one reason; null when none is left. */
function withoutReason(reconciliation: string | null, reason: string): string | null {
  const left = (reconciliation ?? "").split(",").filter((entry) => entry !== "" && entry !== reason);
  return left.length > 0 ? left.join(",") : null;
}

/**
 * Events stored with a deferred commit (design §4.4 binds the changes that move money): the machine took the unlock,
 * or a vend began. Lost in a power cut before the next fsync, they are not lost to the bridge: they were not yet
 * acknowledged (the link acks once durable), so the agent sends them again. A vend's outcome, a session's end and
 * anything a bill is built from are always durable before they are acknowledged or acted on.
 */
const eventsMovingNoMoney: ReadonlySet<FleetEvent["name"]> = new Set(["unlocked", "vend-started"]);

type OverdueDeadline =
  | "stale-claim"
  | "payment-deadline"
  | "unlock-ack"
  | "unlock-expiry"
  | "commit-deadline"
  | "session-max";

type EventPayloadCancelReason = "customer-cancelled" | "payment-timeout" | "unlock-timeout" | "operator" | "system";

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
