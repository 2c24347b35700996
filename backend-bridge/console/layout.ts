import type { Alarm } from "../alarms/alarm-rules.ts";
import { alarmBanner } from "./alarm-view.ts";
import { type Html, html } from "./html.ts";
import type { ConsoleSession } from "./sessions.ts";

/** Who looks at a page, with the alarms active now: the header shows their count on every page. */
export interface PageViewer extends ConsoleSession {
  alarms?: readonly Alarm[] | undefined;
}

const navigation = [
  ["/console/fleet", "Fleet"],
  ["/console/purchases", "Purchases"],
  ["/console/sales", "Sales"],
  ["/console/catalog", "Catalog"],
  ["/console/reconciliation", "Reconciliation"],
] as const;

/** A console page: the navigation, the operator and the logout form (with the session's CSRF token) around `body`. */
export function page(title: string, session: PageViewer | undefined, body: Html): Html {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · SEQR vend console</title>
<link rel="icon" href="/console/favicon.svg">
<link rel="stylesheet" href="/console/console.css">
</head>
<body>
<header>
<strong>SEQR vend</strong>
${
  session
    ? html`<nav>${navigation.map(([href, label]) => html`<a href="${href}">${label}</a>`)}</nav>
${alarmBanner(session.alarms)}
<form method="post" action="/console/logout" class="logout">${csrfField(session)}<span>${session.operator}</span>
<button type="submit">Log out</button></form>`
    : ""
}
</header>
<main>
<h1>${title}</h1>
${body}
</main>
</body>
</html>
`;
}

export function csrfField(session: ConsoleSession): Html {
  return html`<input type="hidden" name="csrf" value="${session.csrfToken}">`;
}
