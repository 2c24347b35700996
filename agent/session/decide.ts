import type { SelectionRequest } from "../../hardware/vend-mechanism.ts";
import type { Catalog, Product } from "../../protocol/catalog.ts";
import type { OpenSession, SessionMode, VendResult } from "../journal/journal-state.ts";

/**
 * The vend session's decisions, as pure functions: whether a selection may be vended and at what price (money rule 3:
 * never above the remaining budget, decided locally without a round trip), and whether a session is over.
 */

export type SelectionDecision =
  | { approve: true; selection: string; product: Product; priceMinor: number }
  | { approve: false; reason: string };

export function remainingBudget(session: OpenSession): number {
  return Math.max(0, session.budgetMinor - session.spentMinor);
}

export function findProduct(
  catalog: Catalog,
  request: SelectionRequest,
): { selection: string; product: Product } | null {
  const direct = Object.hasOwn(catalog.products, request.selection) ? catalog.products[request.selection] : undefined;
  if (direct) return { selection: request.selection, product: direct };
  if (request.mdbItem !== undefined) {
    for (const [selection, product] of Object.entries(catalog.products)) {
      if (product.mdbItem === request.mdbItem) return { selection, product };
    }
  }
  return null;
}

export function decideSelection(session: OpenSession, catalog: Catalog, request: SelectionRequest): SelectionDecision {
  if (session.mode === "single-vend" && session.vendedCount + session.unknownCount > 0) {
    return { approve: false, reason: "single-vend session already used" };
  }
  if (catalog.currency !== session.currency) {
    return { approve: false, reason: `catalog currency ${catalog.currency} is not the session's ${session.currency}` };
  }
  const priced = priceSelection(catalog, request);
  if (!priced.approve) return priced;
  const remaining = remainingBudget(session);
  if (priced.priceMinor > remaining) {
    return { approve: false, reason: `price ${priced.priceMinor} is above the remaining budget ${remaining}` };
  }
  return priced;
}

/**
 * The product and price of a selection, whatever the budget: the product must be in the catalog, and the price the
 * machine names positive and never above the catalog's.
 */
export function priceSelection(catalog: Catalog, request: SelectionRequest): SelectionDecision {
  const found = findProduct(catalog, request);
  if (!found) return { approve: false, reason: `selection ${request.selection} is not in the catalog` };
  const catalogPrice = found.product.priceMinor;
  // An MDB VMC names its own price: it may be lower (a promotion on the machine) but never above what we advertise.
  const priceMinor = request.priceMinor ?? catalogPrice;
  if (!Number.isInteger(priceMinor) || priceMinor <= 0) {
    return { approve: false, reason: `machine price ${request.priceMinor} is not a positive whole amount` };
  }
  if (priceMinor > catalogPrice) {
    return { approve: false, reason: `machine price ${priceMinor} is above the catalog price ${catalogPrice}` };
  }
  return { approve: true, selection: found.selection, product: found.product, priceMinor };
}

/**
 * Selection first (MDB always idle): the customer chose before paying, so there is no session to decide against. The
 * machine holds the request while the customer pays exactly its price; the vend is decided again, against the
 * reserved budget, when the unlock comes.
 */
export function decideSelectionFirst(
  catalog: Catalog,
  request: SelectionRequest,
  now: number,
  machine: { canSell: true } | { canSell: false; why: string },
): SelectionDecision {
  if (!machine.canSell) return { approve: false, reason: machine.why };
  if (request.answerBy !== undefined && request.answerBy <= now) {
    return { approve: false, reason: "the machine no longer holds this selection" };
  }
  return priceSelection(catalog, request);
}

/** After a vend's result is recorded: the reason to end the session now, or null to let the customer go on. */
export function endAfterVend(
  session: OpenSession,
  mode: SessionMode,
  result: VendResult,
  cheapestPriceMinor: number,
): "single-vend-done" | "budget-spent" | null {
  if (mode === "single-vend") return result === "failed" ? null : "single-vend-done";
  return remainingBudget(session) < cheapestPriceMinor ? "budget-spent" : null;
}
