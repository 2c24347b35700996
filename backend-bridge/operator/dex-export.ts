import type { MachineRegistry } from "../registry/machine-registry.ts";
import type { Store } from "../store/store.ts";
import { dexCounters } from "./dex-counters.ts";
import { formatDex } from "./dex-format.ts";
import type { Period } from "./period.ts";
import { loadSales } from "./sales.ts";

/** One machine's DEX audit from the store: its catalog from the registry, its sales up to the end of the period. */
export async function dexExport(
  store: Store,
  registry: Pick<MachineRegistry, "get">,
  machineId: string,
  period: Period,
  generatedAt: number,
): Promise<string> {
  const machine = await registry.get(machineId);
  const sales = await loadSales(store, { machineId, ...(period.to !== undefined ? { to: period.to } : {}) });
  const counters = dexCounters({
    machineId,
    machineName: machine?.name ?? null,
    catalog: machine?.catalog,
    sales,
    from: period.from,
  });
  return formatDex(counters, generatedAt);
}
