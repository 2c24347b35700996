import { formatMinor } from "../../platform/money.ts";
import { type Catalog, catalogHash } from "../../protocol/catalog.ts";
import type { CatalogConfirmation } from "../fleet/catalog-push.ts";
import { instant, money } from "../operator/cli-words.ts";
import type { RegisteredMachine } from "../registry/machine-registry.ts";
import type { AuditEntry } from "../store/store.ts";
import { type Html, html } from "./html.ts";
import { csrfField } from "./layout.ts";
import type { ConsoleSession } from "./sessions.ts";

/**
 * The catalog pages: every machine's catalog state (/console/catalog), and one machine's prices as configured in the
 * registry against the prices its agent last confirmed (the retained state's catalogHash), with the edit form for
 * machines of the store. The agent reports only a hash: its prices are known when the hash is the registry's catalog
 * or one it replaced; otherwise the page says so instead of guessing.
 */

export interface CatalogView {
  machine: RegisteredMachine;
  confirmation: CatalogConfirmation;
}

export function catalogPath(machineId: string): string {
  return `/console/machines/${encodeURIComponent(machineId)}/catalog`;
}

/** The catalog the agent sells with, when its hash is one the bridge knows. */
function agentCatalog(view: CatalogView): Catalog | undefined {
  const { machine, confirmation } = view;
  if (confirmation.status === "confirmed") return machine.catalog;
  const hash = confirmation.agentHash;
  if (hash === undefined) return undefined;
  return [...(machine.catalogHistory ?? [])].reverse().find((period) => catalogHash(period.catalog) === hash)?.catalog;
}

function statusBadge(confirmation: CatalogConfirmation): Html {
  switch (confirmation.status) {
    case "confirmed":
      return html`<span class="status confirmed">confirmed</span>`;
    case "pushed":
      return html`<span class="status pushed">pushed, not yet confirmed</span>`;
    default:
      return html`<span class="status unconfirmed">not confirmed</span>`;
  }
}

function statusDetail(confirmation: CatalogConfirmation): Html {
  const reported =
    confirmation.agentHash === undefined
      ? html`The machine has not reported a catalog hash (offline since the bridge started, or an older agent).`
      : html`The machine reports catalog <code>${confirmation.agentHash}</code>.`;
  switch (confirmation.status) {
    case "confirmed":
      return html`The machine sells with this catalog (hash <code>${confirmation.agentHash}</code>).`;
    case "pushed":
      return html`Sent as cmd/config at ${instant(confirmation.pushed.at)} (command
<code>${confirmation.pushed.commandId}</code>). ${reported} A machine in a session takes it when the session ends; an
offline machine gets it again when it reconnects.`;
    default:
      return reported;
  }
}

export function catalogListBody(views: readonly CatalogView[]): Html {
  return html`<table>
<thead><tr><th>Machine</th><th>Source</th><th>Currency</th><th class="num">Selections</th><th>Machine's catalog</th></tr></thead>
<tbody>${views.map(
    ({ machine, confirmation }) => html`<tr data-machine="${machine.machineId}">
<td><a href="${catalogPath(machine.machineId)}">${machine.machineId}</a>${machine.name ? html`<br>${machine.name}` : ""}</td>
<td>${machine.source === "store" ? "store (editable here)" : "config file"}</td>
<td>${machine.catalog.currency}</td>
<td class="num">${Object.keys(machine.catalog.products).length}</td>
<td>${statusBadge(confirmation)}</td>
</tr>`,
  )}</tbody>
</table>
${views.length === 0 ? html`<p>No machine is registered.</p>` : ""}`;
}

export function catalogMachineBody(
  view: CatalogView,
  changes: readonly AuditEntry[],
  session: ConsoleSession,
  errors: readonly string[] = [],
  /** The session of a purchase open on the machine now, if any. */
  inProgress?: string,
): Html {
  const { machine, confirmation } = view;
  const { currency, products } = machine.catalog;
  const confirmed = agentCatalog(view);
  const selections = [...new Set([...Object.keys(products), ...Object.keys(confirmed?.products ?? {})])].sort();
  const editable = machine.source === "store";
  const rows = selections.map((selection) => {
    const configured = Object.hasOwn(products, selection) ? products[selection] : undefined;
    const onMachine =
      confirmed && Object.hasOwn(confirmed.products, selection) ? confirmed.products[selection] : undefined;
    const differs =
      confirmed !== undefined &&
      (configured?.priceMinor !== onMachine?.priceMinor || configured?.name !== onMachine?.name);
    return html`<tr${differs ? html` class="differs"` : ""} data-selection="${selection}">
<td>${selection}${editable && configured ? html`<input type="hidden" name="selection" value="${selection}">` : ""}</td>
<td>${editable && configured ? html`<input name="name" value="${configured.name}" maxlength="40" required>` : (configured?.name ?? "—")}</td>
<td>${editable && configured ? html`<input name="sku" value="${configured.sku}" maxlength="32" required>` : (configured?.sku ?? "—")}</td>
<td class="num">${
      editable && configured
        ? html`<input name="price" value="${formatMinor(configured.priceMinor, currency)}" inputmode="decimal" size="8" required> ${currency}`
        : configured
          ? money(configured.priceMinor, currency)
          : "— (not configured)"
    }</td>
<td class="num machine-price">${
      confirmed === undefined
        ? "not confirmed"
        : onMachine
          ? money(onMachine.priceMinor, currency)
          : "— (not on the machine)"
    }</td>
${editable ? html`<td>${configured ? html`<label><input type="checkbox" name="remove" value="${selection}"> remove</label>` : ""}</td>` : ""}
</tr>`;
  });
  const table = html`<table class="catalog">
<thead><tr><th>Selection</th><th>Name</th><th>SKU</th><th class="num">Price as configured</th>
<th class="num">Price the machine confirmed</th>${editable ? html`<th></th>` : ""}</tr></thead>
<tbody>${rows}</tbody>
</table>`;
  return html`<p>${machine.name ?? ""} · currency ${currency} · ${statusBadge(confirmation)}</p>
<p id="catalog-status">${statusDetail(confirmation)}</p>
${
  inProgress === undefined
    ? ""
    : html`<p id="in-progress" class="card">A purchase is in progress on this machine
(<a href="/console/purchases/${encodeURIComponent(inProgress)}">${inProgress}</a>): it is billed at the prices in force
when it started, and the machine takes a new catalog when its session ends.</p>`
}
${errors.length > 0 ? html`<ul class="error">${errors.map((error) => html`<li>${error}</li>`)}</ul>` : ""}
${
  editable
    ? html`<form method="post" action="${catalogPath(machine.machineId)}">${csrfField(session)}
${table}
<h2>Add a selection</h2>
<p class="new-selection"><label>Selection <input name="new-selection" size="6" maxlength="8"></label>
<label>Name <input name="new-name" maxlength="40"></label> <label>SKU <input name="new-sku" maxlength="32"></label>
<label>Price <input name="new-price" inputmode="decimal" size="8"> ${currency}</label></p>
<p><button type="submit">Save and push to the machine</button></p>
</form>`
    : html`${table}
<p class="card">This machine is defined in the bridge's config file (<code>machines.${machine.machineId}.catalog</code>):
its catalog is edited there and read-only here.</p>`
}
<h2>Changes</h2>
${
  changes.length === 0
    ? html`<p>No change made in the console.</p>`
    : html`<ul class="changes">${changes.map(
        (change) =>
          html`<li>Changed by ${String(change.detail?.operator ?? "?")} at ${instant(change.at)}${priceChanges(change)}</li>`,
      )}</ul>`
}`;
}

/** "A1 1.50 → 1.20 EUR" for each price that changed, added or removed in one audit entry. */
function priceChanges(change: AuditEntry): string {
  const before = change.detail?.before as Catalog | undefined;
  const after = change.detail?.after as Catalog | undefined;
  if (!before || !after) return "";
  const parts: string[] = [];
  for (const selection of [...new Set([...Object.keys(before.products), ...Object.keys(after.products)])].sort()) {
    const was = before.products[selection];
    const now = after.products[selection];
    if (!was && now) parts.push(`${selection} added at ${money(now.priceMinor, after.currency)}`);
    else if (was && !now) parts.push(`${selection} removed`);
    else if (was && now && (was.priceMinor !== now.priceMinor || was.name !== now.name))
      parts.push(`${selection} ${money(was.priceMinor, before.currency)} → ${money(now.priceMinor, after.currency)}`);
  }
  return parts.length === 0 ? "" : `: ${parts.join(", ")}`;
}
