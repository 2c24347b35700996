import type { Catalog } from "../../protocol/catalog.ts";
import type { MachineState } from "../../protocol/messages.ts";

/** A product the customer chose at the machine before paying (MDB always idle), to be reserved at exactly its price. */
export interface SelectionFirstOffer {
  selection: string;
  name: string;
  priceMinor: number;
}

/**
 * What a createPurchase reserves when the machine holds a selection (the retained state's `pendingSelection`): only a
 * selection still held, in the catalog's currency, of a product in the catalog, and at a price no higher than the
 * catalog's. Anything else is ignored, and the purchase reserves the customer's offer as usual: the agent approves
 * locally against whatever budget it gets, so the worst case of ignoring it is the ordinary flow.
 */
/** Less than this left on the machine's hold: the customer could not pay in time; reserve as usual. */
const minimumHoldLeftMs = 5_000;
const maximumHoldMs = 600_000;

export function selectionFirstOffer(
  state: MachineState | undefined,
  catalog: Catalog,
  now: number,
): SelectionFirstOffer | undefined {
  const held = state?.pendingSelection;
  if (!held || state.session !== null || state.screen !== "pay-for-selection" || state.hardware.link !== "up")
    return undefined;
  // The hold is on the machine's clock: one about to end is not worth reserving for, and one that claims to last
  // longer than any adapter's vend timeout (at most 600 s) is not believed.
  if (held.expiresAt - now < minimumHoldLeftMs || held.expiresAt - now > maximumHoldMs) return undefined;
  if (held.currency !== catalog.currency) return undefined;
  const product = Object.hasOwn(catalog.products, held.selection) ? catalog.products[held.selection] : undefined;
  if (!product || held.priceMinor > product.priceMinor) return undefined;
  return { selection: held.selection, name: product.name, priceMinor: held.priceMinor };
}
