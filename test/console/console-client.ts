import { hashPassword } from "../../backend-bridge/broker/password-hash.ts";
import type { Store } from "../../backend-bridge/store/store.ts";
import { Harness } from "../bridge/helpers/harness.ts";

export const operatorPassword = "correct horse battery";

/** An operator in the store, hashed at a low scrypt cost (tests only). */
export async function addOperator(store: Store, name = "ops", password = operatorPassword): Promise<void> {
  await store.putOperator(name, hashPassword(password, { log2N: 4, r: 8, p: 1 }), 0);
}

/** A purchase flagged by a real flow through the bridge: one vend, one vend with an unknown outcome, then the end. */
export async function flaggedPurchase(h: Harness, machineId = "M1"): Promise<string> {
  const reference = await h.purchase(machineId);
  const sessionId = await h.reserve(reference);
  await h.vendOneAndOneUnknown(sessionId, machineId);
  await h.drainOutbox();
  await h.waitForState(reference, "committed");
  return sessionId;
}

/** A bridge in the harness (SQLite) with the operator "ops" and one flagged purchase: the console's test bed. */
export async function startConsoleBridge(): Promise<{ h: Harness; base: string; flagged: string }> {
  const h = await Harness.start("sqlite");
  await addOperator(h.store);
  return { h, base: h.app.admin.url, flagged: await flaggedPurchase(h) };
}

/** A client of the console: fetch without following redirects, with the session cookie once logged in. */
export class ConsoleClient {
  readonly base: string;
  cookie: string | undefined;

  constructor(base: string) {
    this.base = base;
  }

  get origin(): string {
    return this.base;
  }

  get(path: string): Promise<Response> {
    return fetch(`${this.base}${path}`, {
      redirect: "manual",
      headers: this.cookie ? { cookie: this.cookie } : {},
    });
  }

  post(path: string, form: Record<string, string>, headers: Record<string, string> = { origin: this.base }) {
    return fetch(`${this.base}${path}`, {
      method: "POST",
      redirect: "manual",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        ...(this.cookie ? { cookie: this.cookie } : {}),
        ...headers,
      },
      body: new URLSearchParams(form).toString(),
    });
  }

  async login(name = "ops", password = operatorPassword): Promise<Response> {
    const response = await this.post("/console/login", { name, password });
    const setCookie = response.headers.get("set-cookie");
    if (response.status === 303 && setCookie) this.cookie = setCookie.split(";")[0];
    return response;
  }

  /** The CSRF token in the forms of a page. */
  async csrfOf(path: string): Promise<string> {
    const page = await (await this.get(path)).text();
    const token = /name="csrf" value="([^"]+)"/.exec(page)?.[1];
    if (token === undefined) throw new Error(`no CSRF token on ${path}`);
    return token;
  }
}
