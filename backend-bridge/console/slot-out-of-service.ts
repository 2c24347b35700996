import type { Clock } from "../../platform/clock.ts";
import type { CatalogPush } from "../fleet/catalog-push.ts";
import type { MachineRegistry } from "../registry/machine-registry.ts";
import type { Store } from "../store/store.ts";

/** The audit reason on the purchase when an operator took one of its slots out of service. */
export const slotOutOfServiceReason = "reconcile:slot-out-of-service";

/** Why the slot was not taken out; `status` is the HTTP answer. Nothing was changed. */
export class SlotRefused extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export interface SlotOutOfServiceDeps {
  store: Store;
  registry: Pick<MachineRegistry, "get">;
  catalogs: Pick<CatalogPush, "change">;
  clock: Clock;
}

/**
 * Takes a slot of a flagged purchase's machine out of service (a spiral that jammed, a product stuck): the selection
 * leaves the machine's catalog through the catalog page's own path (stored with its audit entry, pushed as a signed
 * cmd/config, sent again until the agent confirms), so the machine stops offering it; the purchase's audit log says
 * who did it. Putting it back is adding the selection on the catalog page. Only catalogs kept in the store can be
 * changed from the console; a machine's last product is never removed (it would have nothing left to sell).
 */
export async function takeSlotOutOfService(
  deps: SlotOutOfServiceDeps,
  request: { sessionId: string; selection: string; operator: string },
): Promise<void> {
  const { sessionId, selection, operator } = request;
  const purchase = await deps.store.getPurchase(sessionId);
  if (!purchase) throw new SlotRefused(404, "No such purchase.");
  const { machineId } = purchase;
  const machine = await deps.registry.get(machineId);
  if (!machine) throw new SlotRefused(404, `Machine ${machineId} is no longer registered.`);
  if (machine.source !== "store") {
    throw new SlotRefused(
      409,
      `The catalog of ${machineId} is in the bridge's config file: remove selection ${selection} there and restart the bridge.`,
    );
  }
  const { [selection]: product, ...rest } = machine.catalog.products;
  if (!Object.hasOwn(machine.catalog.products, selection) || product === undefined) {
    throw new SlotRefused(
      409,
      `Selection ${selection} is not in the catalog of ${machineId} (already out of service?).`,
    );
  }
  if (Object.keys(rest).length === 0) {
    throw new SlotRefused(
      409,
      `Selection ${selection} is the last product of ${machineId}: the machine would have nothing to sell.`,
    );
  }
  await deps.catalogs.change(machineId, { ...machine.catalog, products: rest }, operator);
  await deps.store.appendAudit({
    sessionId,
    machineId,
    fromState: purchase.state,
    toState: purchase.state,
    reason: slotOutOfServiceReason,
    detail: { operator, selection, name: product.name },
    at: deps.clock.now(),
  });
}
