import type { Alarm } from "../alarms/alarm-rules.ts";
import { instant } from "../operator/cli-words.ts";
import { type Html, html } from "./html.ts";

/** The count in every page's header, linking to the list on the fleet page; nothing when no alarm is active. */
export function alarmBanner(alarms: readonly Alarm[] | undefined): Html | string {
  if (alarms === undefined || alarms.length === 0) return "";
  const count = `${alarms.length} active alarm${alarms.length === 1 ? "" : "s"}`;
  return html`<a class="alarm-banner" href="/console/fleet#alarms">${count}</a>`;
}

export function alarmList(alarms: readonly Alarm[]): Html {
  if (alarms.length === 0) return html`<p>No open alarm.</p>`;
  return html`<table class="alarms">
<thead><tr><th>Since</th><th>Alarm</th><th>Machine</th><th>About</th></tr></thead>
<tbody>${alarms.map(
    (alarm) => html`<tr data-alarm="${alarm.id}">
<td>${instant(alarm.since)}</td>
<td>${alarm.kind}</td>
<td><a href="/console/machines/${encodeURIComponent(alarm.machineId)}">${alarm.machineId}</a></td>
<td>${
      alarm.sessionId
        ? html`<a href="/console/purchases/${encodeURIComponent(alarm.sessionId)}">${alarm.message}</a>`
        : alarm.message
    }</td>
</tr>`,
  )}</tbody>
</table>`;
}
