import { type Html, html } from "./html.ts";
import { page } from "./layout.ts";

export function loginPage(message?: string, name = ""): Html {
  return page(
    "Log in",
    undefined,
    html`<form method="post" action="/console/login" class="card">
${message ? html`<p class="error" role="alert">${message}</p>` : ""}
<p><label>Operator<br><input name="name" autocomplete="username" required value="${name}"></label></p>
<p><label>Password<br><input name="password" type="password" autocomplete="current-password" required></label></p>
<p><button type="submit">Log in</button></p>
</form>`,
  );
}
