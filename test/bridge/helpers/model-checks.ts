import type { Purchase } from "../../../backend-bridge/store/store.ts";
import type { PhysicalVend } from "./model-agent.ts";
import { registryPrices } from "./model-bridge.ts";
import { machineId } from "./model-fleet.ts";
import type { ModelInvoice } from "./model-seqr.ts";
import type { ModelWorld } from "./model-world.ts";

/**
 * The money rules of design §4 (and issue 15), checked against the ground truth of a model run: what the agent
 * physically dispensed, what SEQR executed, what the bridge sent and when. Each failed rule throws a MoneyRuleError
 * naming the rule, so a counterexample says which rule broke.
 */

export class MoneyRuleError extends Error {
  readonly rule: string;

  constructor(rule: string, message: string) {
    super(`[${rule}] ${message}`);
    this.rule = rule;
    this.name = "MoneyRuleError";
  }
}

/** The most a vend may be billed: what the machine reported, never above the registry's price for the selection. */
export function billCap(vend: PhysicalVend): number {
  const registry = registryPrices[vend.selection];
  return registry === undefined ? vend.reportedMinor : Math.min(vend.reportedMinor, registry);
}

/** A vend the bridge must not bill as reported: unknown selection or a price above the registry's. */
export function needsReconciliation(vend: PhysicalVend): boolean {
  const registry = registryPrices[vend.selection];
  return registry === undefined || vend.reportedMinor > registry;
}

/** Every rule the model checks. */
export const moneyRules = [
  "commit-once",
  "commit-at-most-registry-price",
  "commit-within-reservation",
  "no-cancel-while-unlock-valid",
  "commit-deadline-within-reservation",
  "seqr-cancel-stops-machine",
  "unlock-resent-on-reconnect",
  "quiescence",
  "vends-billed-or-flagged",
  "price-disagreement-flagged",
  "commit-before-reservation-lapses",
  "store-matches-seqr",
  "no-reservation-left-open",
  "late-invoice-cancelled",
  "nothing-open",
  "machine-released",
  "machine-available-again",
] as const;
export type MoneyRule = (typeof moneyRules)[number];

/** Throws unless the run was told to look past this rule (world.skipRules, to find further defects by hand). */
function violate(world: ModelWorld, rule: MoneyRule, message: string): void {
  if (world.skipRules.has(rule)) return;
  throw new MoneyRuleError(rule, message);
}

function vendsOf(world: ModelWorld, sessionId: string): PhysicalVend[] {
  return world.bridge.fleet.agent.physicalVends.filter((vend) => vend.sessionId === sessionId);
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/** How far the cancelInvoice calls have been checked (per world). */
const cancelsChecked = new WeakMap<ModelWorld, number>();

/** After every step: the rules that must hold at every moment. */
export async function checkStep(world: ModelWorld): Promise<void> {
  const { seqr, fleet } = world.bridge;
  seqr.expireDue();

  for (const invoice of seqr.invoices.values()) {
    // Never commit twice.
    if (invoice.commits > 1) violate(world, "commit-once", `invoice ${invoice.reference} committed twice`);
    // Never commit more than the machine's vends are worth at the registry's prices.
    if (invoice.committedMinor !== undefined) {
      const vends = vendsOf(world, invoice.clientInvoiceId);
      const cap = sum(vends.map(billCap));
      if (invoice.committedMinor > cap) {
        violate(
          world,
          "commit-at-most-registry-price",
          `invoice ${invoice.reference} committed ${invoice.committedMinor}, but its vends are worth at most ${cap} ` +
            `at registry prices (reported: ${vends.map((vend) => `${vend.selection}=${vend.reportedMinor}`).join(", ")})`,
        );
      }
    }
  }
  // Never ask to commit more than was reserved.
  for (const call of seqr.calls) {
    if (call.operation !== "commitReservation" || call.reference === undefined) continue;
    const invoice = seqr.invoices.get(call.reference);
    if (invoice && (call.amountMinor ?? 0) > invoice.totalMinor) {
      violate(
        world,
        "commit-within-reservation",
        `commitReservation of ${call.amountMinor} on a ${invoice.totalMinor} reservation`,
      );
    }
  }

  // A reservation is not cancelled while an unlock the bridge sent could still be honoured by the machine.
  const from = cancelsChecked.get(world) ?? 0;
  cancelsChecked.set(world, seqr.calls.length);
  for (const call of seqr.calls.slice(from)) {
    if (call.operation !== "cancelInvoice" || !call.executed || call.statusBefore !== "RESERVED") continue;
    const invoice = call.reference === undefined ? undefined : seqr.invoices.get(call.reference);
    if (!invoice) continue;
    const sessionId = invoice.clientInvoiceId;
    const liveUnlock = fleet.sent.find(
      (sent) => sent.ok && sent.name === "unlock" && sent.body.sessionId === sessionId && sent.expiresAt >= call.at,
    );
    if (!liveUnlock) continue;
    // The machine said it will not (or no longer) use that session: it ended it, or refused the unlock.
    const machineClosed = fleet.delivered.some(
      (event) =>
        event.stored &&
        event.at <= call.at &&
        event.payload.sessionId === sessionId &&
        (event.name === "session-ended" || (event.name === "command-rejected" && event.payload.reason !== "replayed")),
    );
    if (machineClosed) continue;
    violate(
      world,
      "no-cancel-while-unlock-valid",
      `reservation ${invoice.reference} cancelled at t+${call.at - world.bridge.clock.start}ms while the unlock sent at ` +
        `t+${liveUnlock.at - world.bridge.clock.start}ms was valid until t+${liveUnlock.expiresAt - world.bridge.clock.start}ms`,
    );
  }

  // The bridge's SEQR calls (and so its commit deadline) are scheduled within the reservation SEQR holds.
  // The receipt follows a commit SEQR accepted: the reservation is spent by then, so no deadline binds it.
  for (const row of (await world.bridge.store.listOutbox()).filter((each) => each.kind !== "submitPaymentReceipt")) {
    const purchase = await world.bridge.store.getPurchase(row.sessionId);
    const invoice = purchase?.invoiceReference ? seqr.invoices.get(purchase.invoiceReference) : undefined;
    if (invoice && row.deadlineAt > invoice.expiresAt) {
      violate(
        world,
        "commit-deadline-within-reservation",
        `${row.kind} of ${invoice.reference} may run until t+${row.deadlineAt - invoice.createdAt}ms after SEQR ` +
          `created the invoice, but SEQR holds the reservation only ${invoice.expiresAt - invoice.createdAt}ms`,
      );
    }
  }
}

/** SEQR wants getPaymentStatus within 20 s of a notification: what a notification causes must be done by then. */
export const notificationWindowMs = 20_000;

/**
 * A notification for a purchase whose reservation SEQR cancelled (or let lapse) while the machine may be unlocked:
 * within the notification window the bridge tells the machine to stop (issue 15, defect 4). Not expected when the
 * bridge could not know (getPaymentStatus failing, a crash that lost the notification) or when the machine itself
 * ended the session meanwhile.
 */
export function expectCancelAfterNotification(
  world: ModelWorld,
  reference: string,
  before: Purchase,
  notifiedAt: number,
): { at: number; check: () => Promise<void> } {
  const { seqr, fleet } = world.bridge;
  const status = seqr.invoices.get(reference)?.status;
  const statusFaults = seqr.faultsInjected.get("getPaymentStatus") ?? 0;
  const restarts = world.bridge.restarts;
  const applies =
    (status === "CANCELED" || status === "EXPIRED") &&
    ["reserved", "unlocked", "vending"].includes(before.state) &&
    seqr.faultsPending("getPaymentStatus") === 0 &&
    !seqr.held.some((held) => held.operation === "getPaymentStatus");
  const check = async () => {
    if (!applies || world.bridge.restarts !== restarts) return;
    if ((seqr.faultsInjected.get("getPaymentStatus") ?? 0) !== statusFaults) return;
    const ended = fleet.delivered.some(
      (event) => event.stored && event.name === "session-ended" && event.payload.sessionId === before.sessionId,
    );
    if (ended) return;
    // An attempt counts: whether a cancel that met a broken broker link is sent again is the reconnect rule's matter.
    const cancel = fleet.sent.find(
      (sent) => sent.name === "cancel" && sent.body.sessionId === before.sessionId && sent.at >= notifiedAt,
    );
    if (!cancel) {
      violate(
        world,
        "seqr-cancel-stops-machine",
        `SEQR says ${status} for ${reference} while the bridge has it ${before.state}, a notification came at ` +
          `t+${notifiedAt - world.bridge.clock.start}ms, and no cancel was sent to the machine within ${notificationWindowMs} ms`,
      );
    }
  };
  return { at: notifiedAt + notificationWindowMs, check };
}

/**
 * The bridge's broker link comes back while a purchase waits for its unlock's acknowledgement and the machine is
 * online: the unlock goes again (issue 15, defect 2: nothing resent it, the agent's `online` had not changed).
 */
export async function expectUnlockResentOnReconnect(world: ModelWorld): Promise<() => Promise<void>> {
  const { fleet, store } = world.bridge;
  const waiting = (await store.listOpenPurchases()).filter((purchase) => purchase.state === "reserved");
  const upAt = world.now;
  return async () => {
    if (!fleet.linkUp || !fleet.bridgeSeesOnline) return;
    for (const purchase of waiting) {
      const now = await store.getPurchase(purchase.sessionId);
      if (now?.state !== "reserved") continue;
      const resent = fleet.sent.some(
        (sent) => sent.ok && sent.name === "unlock" && sent.body.sessionId === purchase.sessionId && sent.at >= upAt,
      );
      if (!resent) {
        violate(
          world,
          "unlock-resent-on-reconnect",
          `the broker link is back, the machine online, the purchase still waits for its unlock's acknowledgement, ` +
            "and the unlock was not sent again",
        );
      }
    }
  };
}

/** Heals every fault, lets every timer run and every message arrive, until nothing is open any more. */
export async function heal(world: ModelWorld): Promise<void> {
  const { bridge } = world;
  const { seqr, fleet } = bridge;
  // First the notification windows still open run out as they are (faults included), and what fell due is checked.
  await bridge.advance(notificationWindowMs);
  await world.runDue();
  seqr.clearFaults();
  fleet.setLink(true);
  fleet.setAgentOnline(true);
  fleet.agent.inService(bridge.clock.now());
  let quietRounds = 0;
  for (let round = 0; round < 400; round++) {
    seqr.releaseAll();
    await world.quiesce();
    while (fleet.inbox.length > 0) fleet.deliverCommand(0, false);
    // The customer walks away: the agent ends the session (idle timeout).
    fleet.agent.endSession("idle-timeout", bridge.clock.now());
    for (let tries = 0; fleet.agent.journal.length > 0 && tries < 50; tries++) {
      const delivery = fleet.deliverEvent(0, false);
      if (!delivery) break;
      world.track(delivery);
      await world.quiesce();
    }
    const open = await bridge.store.listOpenPurchases();
    const outbox = (await bridge.store.listOutbox()).filter((row) => row.status === "pending");
    const idle =
      open.length === 0 &&
      outbox.length === 0 &&
      fleet.inbox.length === 0 &&
      fleet.agent.journal.length === 0 &&
      world.pending.size === 0;
    // A few more rounds once idle: periodic re-checks (a ping to a flagged machine) get their turn too.
    if (idle && ++quietRounds > 6) {
      await world.runDue(true);
      return;
    }
    const next = bridge.clock.nextDueAt();
    const step = idle ? 10_000 : 60_000;
    await bridge.advanceTo(next === undefined ? bridge.clock.now() + step : Math.min(next, bridge.clock.now() + step));
  }
  const open = await bridge.store.listOpenPurchases();
  violate(
    world,
    "quiescence",
    `still not quiet after healing: open purchases ${open.map((p) => p.state).join(", ")}, ` +
      `journal ${fleet.agent.journal.length}, inbox ${fleet.inbox.length}, pending ${world.pending.size}`,
  );
}

/** Once healed and quiet: nothing open, nothing unbilled without a flag, the machine for sale again. */
export async function checkQuiescent(world: ModelWorld): Promise<void> {
  const { bridge } = world;
  const { seqr, fleet, store } = bridge;
  await checkStep(world);
  const purchases = await store.listPurchases({ limit: 10_000 });
  const bySession = new Map(purchases.map((purchase) => [purchase.sessionId, purchase]));

  // No vend reported while unlocked is silently unbilled: billed in full (at registry prices) or flagged.
  const sessions = new Set(fleet.agent.physicalVends.map((vend) => vend.sessionId));
  for (const sessionId of sessions) {
    const vends = vendsOf(world, sessionId);
    const purchase = bySession.get(sessionId);
    const invoice = purchase?.invoiceReference ? seqr.invoices.get(purchase.invoiceReference) : undefined;
    const committed = invoice?.committedMinor ?? 0;
    const due = sum(vends.map(billCap));
    const describe = `${vends.map((vend) => `${vend.selection}=${vend.reportedMinor}`).join(", ")}; purchase ${
      purchase?.state ?? "unknown"
    }, SEQR ${invoice?.status ?? "none"} (${invoice?.history.join(" > ") ?? ""})`;
    if (committed !== due && !purchase?.reconciliation) {
      violate(
        world,
        "vends-billed-or-flagged",
        `session's vends are worth ${due}, ${committed} was committed and nothing is flagged: ${describe}`,
      );
    }
    if (vends.some(needsReconciliation) && !purchase?.reconciliation) {
      violate(
        world,
        "price-disagreement-flagged",
        `a vend of an unknown selection or above the registry price is not flagged: ${describe}`,
      );
    }
    // A reservation that lapsed at SEQR while vends reported in time were waiting to be committed (and SEQR was
    // answering every commit): the bridge's commit deadline was too late.
    if (invoice?.lapsed && seqrAlwaysAnswered(world)) {
      const margin = 60_000;
      const stored = (await store.listVends(sessionId)).filter(
        (vend) => vend.outcome === "vended" && vend.at < invoice.expiresAt - margin,
      );
      if (stored.length > 0) {
        violate(
          world,
          "commit-before-reservation-lapses",
          `reservation ${invoice.reference} lapsed at SEQR with ${stored.length} vend(s) reported more than ` +
            `${margin} ms earlier still uncommitted: ${describe}`,
        );
      }
    }
  }

  // Store and SEQR agree on what was committed.
  for (const purchase of purchases) {
    const invoice = purchase.invoiceReference ? seqr.invoices.get(purchase.invoiceReference) : undefined;
    if (purchase.state === "committed" && invoice?.committedMinor !== (purchase.billedMinor ?? undefined)) {
      violate(
        world,
        "store-matches-seqr",
        `purchase committed ${purchase.billedMinor} but SEQR has ${invoice?.committedMinor ?? "nothing"} committed`,
      );
    }
    if (invoice?.committedMinor !== undefined && purchase.state !== "committed" && !purchase.reconciliation) {
      violate(
        world,
        "store-matches-seqr",
        `SEQR committed ${invoice.committedMinor} but the purchase is ${purchase.state} and not flagged`,
      );
    }
    // No reservation left open at SEQR by a purchase the bridge has closed (unless a person was told).
    if (invoice && ["RESERVED", "ISSUED"].includes(invoice.status) && !purchase.reconciliation) {
      violate(
        world,
        "no-reservation-left-open",
        `invoice ${invoice.reference} is still ${invoice.status} at SEQR but the purchase is ${purchase.state}`,
      );
    }
  }

  // An invoice whose reference reached the bridge only after it gave up on it (a late sendInvoice answer) is cancelled,
  // never left for a customer to find (issue 15, defect 7).
  for (const invoice of seqr.invoices.values()) {
    if (!invoice.answered || invoice.status !== "ISSUED") continue;
    const purchase = bySession.get(invoice.clientInvoiceId);
    if (purchase && ["failed", "cancelled", "committed"].includes(purchase.state) && !purchase.reconciliation) {
      violate(
        world,
        "late-invoice-cancelled",
        `invoice ${invoice.reference} is still ISSUED at SEQR, the bridge got its reference, and the purchase is ` +
          `${purchase.state} (invoice reference stored: ${purchase.invoiceReference ?? "none"})`,
      );
    }
  }

  const open = await store.listOpenPurchases();
  if (open.length > 0) {
    violate(world, "nothing-open", `open purchases left: ${open.map((p) => p.state).join(", ")}`);
  }
  // The machine is for sale again: nobody holds it and no flag outlived its cause.
  const holder = await store.holderOf(machineId);
  if (holder) violate(world, "machine-released", `machine still held by a ${holder.state} purchase`);
  const unavailable = await store.machineUnavailableReason(machineId);
  if (unavailable !== undefined) {
    violate(
      world,
      "machine-available-again",
      `machine online, in service and idle, but the bridge still refuses it: ${unavailable}`,
    );
  }
  const result = await bridge.app.orchestrator.createPurchase({
    token: machineId,
    amount: "5.00",
    currency: "EUR",
    msisdn: null,
  });
  if (!("invoiceReferenceId" in result)) {
    violate(world, "machine-available-again", `createPurchase after healing answers ${result.errorCode}`);
  }
}

function seqrAlwaysAnswered(world: ModelWorld): boolean {
  const { seqr } = world.bridge;
  return (
    (seqr.faultsInjected.get("commitReservation") ?? 0) === 0 &&
    (seqr.faultsInjected.get("updateInvoice") ?? 0) === 0 &&
    (seqr.faultsInjected.get("getPaymentStatus") ?? 0) === 0
  );
}

export type { ModelInvoice };
