import type { IncomingMessage, ServerResponse } from "node:http";
import type { Clock } from "../../platform/clock.ts";
import type { Logger } from "../../platform/logger.ts";
import { hashPassword, verifyPassword } from "../broker/password-hash.ts";
import type { Store } from "../store/store.ts";
import { readCookie, sessionCookie, sessionCookieName } from "./cookies.ts";
import { redirect, sendHtml } from "./http-io.ts";
import { loginPage } from "./login-page.ts";
import { LoginThrottle } from "./login-throttle.ts";
import { isSameOrigin } from "./same-origin.ts";
import { type ConsoleSession, ConsoleSessions, csrfTokenMatches } from "./sessions.ts";

export interface ConsoleAuthDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  /** The admin listener serves TLS: the cookie is Secure and the expected Origin https. */
  tls: boolean;
  sessions?: ConsoleSessions;
  throttle?: LoginThrottle;
}

/** Login, logout and the checks in front of every other console request (session, then same origin and CSRF token). */
export class ConsoleAuth {
  readonly #deps: ConsoleAuthDeps;
  readonly sessions: ConsoleSessions;
  readonly #throttle: LoginThrottle;
  /** Checked when the name is unknown, so an unknown name takes as long as a wrong password. */
  #decoyHash: string | undefined;

  constructor(deps: ConsoleAuthDeps) {
    this.#deps = deps;
    this.sessions = deps.sessions ?? new ConsoleSessions();
    this.#throttle = deps.throttle ?? new LoginThrottle();
  }

  get #scheme(): "http" | "https" {
    return this.#deps.tls ? "https" : "http";
  }

  /** The request's live session, if its operator still exists (a removed operator's sessions end). */
  async sessionOf(request: IncomingMessage): Promise<ConsoleSession | undefined> {
    const id = readCookie(request.headers.cookie, sessionCookieName(this.#deps.tls));
    const session = this.sessions.use(id, this.#deps.clock.now());
    if (session === undefined) return undefined;
    if ((await this.#deps.store.getOperator(session.operator)) === undefined) {
      this.sessions.end(session.id);
      return undefined;
    }
    return session;
  }

  /** A state-changing request is allowed: from our own origin and carrying the session's token. */
  isGenuinePost(request: IncomingMessage, session: ConsoleSession, form: URLSearchParams): boolean {
    return isSameOrigin(request.headers, this.#scheme) && csrfTokenMatches(session, form.get("csrf") ?? undefined);
  }

  async login(request: IncomingMessage, response: ServerResponse, form: URLSearchParams): Promise<void> {
    if (!isSameOrigin(request.headers, this.#scheme)) {
      sendHtml(response, 403, loginPage("This login form was not sent from the console's own page."));
      return;
    }
    const name = form.get("name") ?? "";
    const password = form.get("password") ?? "";
    const address = request.socket.remoteAddress ?? "unknown";
    const now = this.#deps.clock.now();
    const waitMs = this.#throttle.waitMs(name, address, now);
    if (waitMs > 0) {
      const minutes = Math.ceil(waitMs / 60_000);
      sendHtml(response, 429, loginPage(`Too many failed logins. Try again in ${minutes} min.`, name), {
        "Retry-After": String(Math.ceil(waitMs / 1000)),
      });
      return;
    }
    const account = name === "" ? undefined : await this.#deps.store.getOperator(name);
    this.#decoyHash ??= hashPassword("no such operator");
    const valid = await verifyPassword(password, account?.passwordHash ?? this.#decoyHash);
    if (!valid || account === undefined) {
      this.#throttle.failed(name, address, now);
      this.#deps.logger.warn({ operator: name, address }, "console login refused");
      sendHtml(response, 401, loginPage("Wrong name or password.", name));
      return;
    }
    this.#throttle.succeeded(name);
    const session = this.sessions.create(account.name, now);
    this.#deps.logger.info({ operator: account.name, address }, "console login");
    redirect(response, "/console/fleet", {
      "Set-Cookie": sessionCookie(session.id, this.#deps.tls, Math.floor(this.sessions.limits.absoluteMs / 1000)),
    });
  }

  logout(response: ServerResponse, session: ConsoleSession): void {
    this.sessions.end(session.id);
    redirect(response, "/console/login", { "Set-Cookie": sessionCookie("", this.#deps.tls, 0) });
  }
}
