import type { FleetLink } from "../fleet/fleet-link.ts";
import { instant, money } from "../operator/cli-words.ts";
import type { MachineRegistry } from "../registry/machine-registry.ts";
import type { Store } from "../store/store.ts";
import { type Html, html } from "./html.ts";

export interface FleetRow {
  machineId: string;
  name: string | undefined;
  online: boolean;
  screen: string | null;
  hardwareLink: string | null;
  lastFault: string | null;
  outOfService: { reason: string; since: number } | undefined;
  lastSale: { at: number; billedMinor: number; currency: string; sessionId: string } | undefined;
}

/** Every registered machine with what the fleet link and the store know of it now. */
export async function fleetRows(
  store: Store,
  registry: Pick<MachineRegistry, "list">,
  fleet: Pick<FleetLink, "isOnline" | "lastState">,
): Promise<FleetRow[]> {
  const unavailable = new Map((await store.listUnavailableMachines()).map((flag) => [flag.machineId, flag]));
  const rows: FleetRow[] = [];
  for (const machine of await registry.list()) {
    const state = fleet.lastState(machine.machineId);
    const [sale] = await store.queryPurchases({ machineId: machine.machineId, states: ["committed"], limit: 1 });
    rows.push({
      machineId: machine.machineId,
      name: machine.name,
      online: fleet.isOnline(machine.machineId),
      screen: state?.screen ?? null,
      hardwareLink: state ? `${state.hardware.driver} ${state.hardware.link}` : null,
      lastFault: state?.lastFault ? `${state.lastFault.code}: ${state.lastFault.message}` : null,
      outOfService: unavailable.get(machine.machineId),
      lastSale: sale && {
        at: sale.closedAt ?? sale.updatedAt,
        billedMinor: sale.committedMinor ?? sale.billedMinor ?? 0,
        currency: sale.currency,
        sessionId: sale.sessionId,
      },
    });
  }
  return rows;
}

export function fleetBody(rows: readonly FleetRow[]): Html {
  return html`<table>
<thead><tr><th>Machine</th><th>Link</th><th>Screen</th><th>Hardware</th><th>Last fault</th><th>Out of service</th>
<th>Last sale</th><th>Exports</th></tr></thead>
<tbody>${rows.map(
    (row) => html`<tr data-machine="${row.machineId}">
<td><a href="/console/purchases?machine=${encodeURIComponent(row.machineId)}">${row.machineId}</a>${row.name ? html`<br>${row.name}` : ""}</td>
<td class="${row.online ? "online" : "offline"}">${row.online ? "online" : "offline"}</td>
<td>${row.screen ?? "—"}</td>
<td>${row.hardwareLink ?? "—"}</td>
<td>${row.lastFault ?? "—"}</td>
<td>${row.outOfService ? html`${row.outOfService.reason}<br>since ${instant(row.outOfService.since)}` : "no"}</td>
<td>${
      row.lastSale
        ? html`<a href="/console/purchases/${encodeURIComponent(row.lastSale.sessionId)}">${money(
            row.lastSale.billedMinor,
            row.lastSale.currency,
          )}</a><br>${instant(row.lastSale.at)}`
        : "—"
    }</td>
<td><a href="/console/machines/${encodeURIComponent(row.machineId)}/dex">DEX</a></td>
</tr>`,
  )}</tbody>
</table>
${rows.length === 0 ? html`<p>No machine is registered.</p>` : ""}`;
}
