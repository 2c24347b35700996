import { z } from "zod";
import type { Alarm } from "../alarms/alarm-rules.ts";
import type { PresenceLog } from "../alarms/presence-log.ts";
import type { FleetLink } from "../fleet/fleet-link.ts";
import { instant, money } from "../operator/cli-words.ts";
import type { MachineRegistry } from "../registry/machine-registry.ts";
import type { Store } from "../store/store.ts";
import { alarmList } from "./alarm-view.ts";
import { type Html, html } from "./html.ts";

export interface FleetRow {
  machineId: string;
  name: string | undefined;
  online: boolean;
  /** Since when online or offline, as this bridge saw it (alarms/presence-log.ts); undefined before the first look. */
  since: { at: number; sinceBridgeStart: boolean } | undefined;
  screen: string | null;
  hardwareLink: string | null;
  lastFault: string | null;
  outOfService: { reason: string; since: number } | undefined;
  /** What the agent reports in its retained state. */
  versions: { agent: string; contract: number } | null;
  lastSale: { at: number; billedMinor: number; currency: string; sessionId: string } | undefined;
}

/** Every registered machine with what the fleet link, the presence log and the store know of it now. */
export async function fleetRows(
  store: Store,
  registry: Pick<MachineRegistry, "list">,
  fleet: Pick<FleetLink, "isOnline" | "lastState">,
  presence?: Pick<PresenceLog, "get">,
): Promise<FleetRow[]> {
  const unavailable = new Map((await store.listUnavailableMachines()).map((flag) => [flag.machineId, flag]));
  const rows: FleetRow[] = [];
  for (const machine of await registry.list()) {
    const state = fleet.lastState(machine.machineId);
    const online = fleet.isOnline(machine.machineId);
    const seen = presence?.get(machine.machineId);
    const [sale] = await store.queryPurchases({ machineId: machine.machineId, states: ["committed"], limit: 1 });
    rows.push({
      machineId: machine.machineId,
      name: machine.name,
      online,
      // The presence log lags the link by at most one evaluation: a since of the other state would be wrong.
      since: seen?.online === online ? { at: seen.since, sinceBridgeStart: seen.sinceBridgeStart } : undefined,
      screen: state?.screen ?? null,
      hardwareLink: state ? `${state.hardware.driver} ${state.hardware.link}` : null,
      lastFault: state?.lastFault ? `${state.lastFault.code}: ${state.lastFault.message}` : null,
      outOfService: unavailable.get(machine.machineId),
      versions: state?.versions ?? null,
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

/** The fleet page's query string: every parameter optional, an unknown word refused with the page's error. */
const fleetQuery = z.object({
  link: z.enum(["", "online", "offline"]).default(""),
  oos: z.enum(["", "1"]).default(""),
  q: z.string().max(64).default(""),
});
export type FleetFilter = z.infer<typeof fleetQuery>;

export function fleetFilter(params: URLSearchParams): { filter: FleetFilter; error?: string } {
  const parsed = fleetQuery.safeParse(Object.fromEntries(params));
  if (parsed.success) return { filter: parsed.data };
  const issue = parsed.error.issues[0];
  return { filter: fleetQuery.parse({}), error: `${issue?.path.join(".")}: ${issue?.message}` };
}

export function filterFleet(rows: readonly FleetRow[], filter: FleetFilter): FleetRow[] {
  const text = filter.q.trim().toLowerCase();
  return rows.filter(
    (row) =>
      (filter.link === "" || row.online === (filter.link === "online")) &&
      (filter.oos === "" || row.outOfService !== undefined) &&
      (text === "" || row.machineId.toLowerCase().includes(text) || (row.name ?? "").toLowerCase().includes(text)),
  );
}

function since(row: FleetRow): Html | string {
  if (row.since === undefined) return "—";
  return row.since.sinceBridgeStart
    ? html`<span title="already so when the bridge started at ${instant(row.since.at)}">since bridge start</span>`
    : html`since ${instant(row.since.at)}`;
}

/** One machine's facts as table cells: the fleet page's row and the machine page's summary. */
export function fleetCells(row: FleetRow): Html {
  return html`<td class="${row.online ? "online" : "offline"}">${row.online ? "online" : "offline"}</td>
<td class="since">${since(row)}</td>
<td>${row.screen ?? "—"}</td>
<td>${row.hardwareLink ?? "—"}</td>
<td>${row.lastFault ?? "—"}</td>
<td>${row.outOfService ? html`${row.outOfService.reason}<br>since ${instant(row.outOfService.since)}` : "no"}</td>
<td>${row.versions ? html`agent ${row.versions.agent}<br>contract ${row.versions.contract}` : "—"}</td>
<td>${
    row.lastSale
      ? html`<a href="/console/purchases/${encodeURIComponent(row.lastSale.sessionId)}">${money(
          row.lastSale.billedMinor,
          row.lastSale.currency,
        )}</a><br>${instant(row.lastSale.at)}`
      : "—"
  }</td>`;
}

export const fleetHeadings = html`<th>Link</th><th>Since</th><th>Screen</th><th>Hardware</th><th>Last fault</th><th>Out of service</th>
<th>Versions</th><th>Last sale</th>`;

function filterForm(filter: FleetFilter): Html {
  const option = (value: string, label: string) =>
    html`<option value="${value}"${filter.link === value ? html` selected` : ""}>${label}</option>`;
  return html`<form method="get" action="/console/fleet" class="filters">
<label>Link<select name="link">${option("", "any")}${option("online", "online")}${option("offline", "offline")}</select></label>
<label><span>Out of service only</span><input type="checkbox" name="oos" value="1"${filter.oos === "1" ? html` checked` : ""}></label>
<label>Machine id or name<input name="q" value="${filter.q}"></label>
<button type="submit">Filter</button>
</form>`;
}

export function fleetBody(
  rows: readonly FleetRow[],
  view: { filter: FleetFilter; error?: string | undefined; alarms: readonly Alarm[] },
): Html {
  return html`<section id="alarms"><h2>Alarms</h2>${alarmList(view.alarms)}</section>
<h2>Machines</h2>
${filterForm(view.filter)}
${view.error ? html`<p class="error" role="alert">${view.error}</p>` : ""}
<table>
<thead><tr><th>Machine</th>${fleetHeadings}<th>Exports</th></tr></thead>
<tbody>${rows.map(
    (row) => html`<tr data-machine="${row.machineId}">
<td><a href="/console/machines/${encodeURIComponent(row.machineId)}">${row.machineId}</a>${row.name ? html`<br>${row.name}` : ""}</td>
${fleetCells(row)}
<td><a href="/console/machines/${encodeURIComponent(row.machineId)}/dex">DEX</a></td>
</tr>`,
  )}</tbody>
</table>
${rows.length === 0 ? html`<p>No machine matches.</p>` : ""}`;
}
