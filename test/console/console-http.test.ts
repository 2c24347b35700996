import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Harness } from "../bridge/helpers/harness.ts";
import { addOperator, ConsoleClient, operatorPassword, startConsoleBridge } from "./console-client.ts";

/**
 * The web console over HTTP on the admin listener of a bridge in the harness (SQLite): login, the session and CSRF
 * checks in front of every page and action, and "mark resolved" on a purchase flagged by a real flow.
 */
describe("web console over HTTP", () => {
  let h: Harness;
  let base: string;
  let flagged: string;

  beforeAll(async () => {
    ({ h, base, flagged } = await startConsoleBridge());
    await addOperator(h.store, "second");
  }, 120_000);

  afterAll(async () => {
    await h?.close();
  });

  it("sends an unauthenticated GET to the login page and refuses other methods with 401", async () => {
    const anonymous = new ConsoleClient(base);
    for (const path of [
      "/console/fleet",
      "/console/purchases",
      `/console/purchases/${flagged}`,
      "/console/sales.csv",
    ]) {
      const response = await anonymous.get(path);
      expect(response.status, path).toBe(303);
      expect(response.headers.get("location")).toBe("/console/login");
    }
    const post = await anonymous.post(`/console/purchases/${flagged}/resolve`, { note: "x", csrf: "x" });
    expect(post.status).toBe(401);
    const login = await anonymous.get("/console/login");
    expect(login.status).toBe(200);
    expect(await login.text()).toContain('name="password"');
  });

  it("leaves /healthz and /metrics as they were: open, JSON and Prometheus text", async () => {
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: "ok" });
    const metrics = await fetch(`${base}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain("# HELP");
  });

  it("logs in with the right password only, with an HttpOnly SameSite=Strict cookie", async () => {
    const client = new ConsoleClient(base);
    const wrong = await client.login("ops", "not the password");
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("set-cookie")).toBeNull();
    const unknown = await client.login("nobody", operatorPassword);
    expect(unknown.status).toBe(401);
    const right = await client.login();
    expect(right.status).toBe(303);
    expect(right.headers.get("location")).toBe("/console/fleet");
    const cookie = right.headers.get("set-cookie") ?? "";
    expect(cookie).toMatch(/^console=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
    const fleet = await client.get("/console/fleet");
    expect(fleet.status).toBe(200);
    const page = await fleet.text();
    expect(page).toContain('data-machine="M1"');
    expect(page).toContain("Lobby");
  });

  it("refuses a login form posted from another origin", async () => {
    const client = new ConsoleClient(base);
    const response = await client.post(
      "/console/login",
      { name: "ops", password: operatorPassword },
      { origin: "http://evil.example" },
    );
    expect(response.status).toBe(403);
    expect(response.headers.get("set-cookie")).toBeNull();
  });

  it("serves every page with a strict Content-Security-Policy and no external reference", async () => {
    const client = new ConsoleClient(base);
    await client.login();
    for (const path of [
      "/console/fleet",
      "/console/purchases?flagged=1",
      `/console/purchases/${flagged}`,
      "/console/sales?by=product",
      "/console/reconciliation",
    ]) {
      const response = await client.get(path);
      expect(response.status, path).toBe(200);
      expect(response.headers.get("content-security-policy")).toBe(
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
      );
      const page = await response.text();
      expect(page, path).not.toMatch(/(src|href|action)="(https?:)?\/\//);
      expect(page, path).not.toContain("<script");
    }
  });

  it("refuses a POST with another origin, a cross-site fetch, a missing token or another session's token", async () => {
    const client = new ConsoleClient(base);
    await client.login();
    const token = await client.csrfOf(`/console/purchases/${flagged}`);
    const other = new ConsoleClient(base);
    await other.login("second");
    const otherToken = await other.csrfOf("/console/fleet");
    const path = `/console/purchases/${flagged}/resolve`;
    const attempts = [
      client.post(path, { note: "n", csrf: token }, { origin: "http://evil.example" }),
      client.post(path, { note: "n", csrf: token }, {}),
      client.post(path, { note: "n", csrf: token }, { origin: base, "sec-fetch-site": "cross-site" }),
      client.post(path, { note: "n" }),
      client.post(path, { note: "n", csrf: otherToken }),
    ];
    for (const response of await Promise.all(attempts)) expect(response.status).toBe(403);
    const audit = await h.store.listAudit(flagged);
    expect(audit.some((entry) => entry.reason === "reconcile:resolved")).toBe(false);
  });

  it("marks a flagged purchase resolved with a note, in the audit log with the operator's name", async () => {
    const client = new ConsoleClient(base);
    await client.login();
    const queue = await (await client.get("/console/reconciliation")).text();
    expect(queue).toContain(flagged);
    expect(queue).toContain("unknown-vend");
    const token = await client.csrfOf(`/console/purchases/${flagged}`);
    const empty = await client.post(`/console/purchases/${flagged}/resolve`, { note: "  ", csrf: token });
    expect(empty.status).toBe(400);
    const note = 'Checked the spiral: <b>empty</b> & "no product"';
    const response = await client.post(`/console/purchases/${flagged}/resolve`, { note, csrf: token });
    expect(response.status).toBe(303);
    const audit = (await h.store.listAudit(flagged)).filter((entry) => entry.reason === "reconcile:resolved");
    expect(audit).toHaveLength(1);
    expect(audit[0]?.detail).toEqual({ operator: "ops", note, flags: "unknown-vend" });
    const page = await (await client.get(`/console/purchases/${flagged}`)).text();
    expect(page).toContain("Resolved by ops");
    expect(page).toContain("Checked the spiral: &lt;b&gt;empty&lt;/b&gt; &amp; &quot;no product&quot;");
    expect(await (await client.get("/console/reconciliation")).text()).not.toContain(flagged);
  });

  it("ends the session at logout and when its operator is removed", async () => {
    const client = new ConsoleClient(base);
    await client.login();
    const token = await client.csrfOf("/console/fleet");
    expect((await client.post("/console/logout", { csrf: token })).status).toBe(303);
    expect((await client.get("/console/fleet")).status).toBe(303);
    await addOperator(h.store, "leaving");
    const leaving = new ConsoleClient(base);
    await leaving.login("leaving");
    expect((await leaving.get("/console/fleet")).status).toBe(200);
    await h.store.deleteOperator("leaving");
    expect((await leaving.get("/console/fleet")).status).toBe(303);
  });

  it("ends an idle session after the idle time on the bridge's clock", async () => {
    const client = new ConsoleClient(base);
    await client.login();
    expect((await client.get("/console/fleet")).status).toBe(200);
    await h.clock.advance(h.app.console.auth.sessions.limits.idleMs);
    expect((await client.get("/console/fleet")).status).toBe(303);
  });

  it("serves the sales CSV and a machine's DEX file to a logged-in operator", async () => {
    const client = new ConsoleClient(base);
    await client.login();
    const csv = await client.get("/console/sales.csv?by=machine");
    expect(csv.status).toBe(200);
    expect(csv.headers.get("content-disposition")).toContain("sales-by-machine.csv");
    const text = await csv.text();
    expect(text.split("\r\n")[1]).toMatch(/^M1,/);
    const dex = await client.get("/console/machines/M1/dex");
    expect(dex.status).toBe(200);
    expect(await dex.text()).toMatch(/^DXS\*/);
    expect((await client.get("/console/machines/NOPE/dex")).status).toBe(404);
  });

  it("throttles a name after five failed logins, even with the right password", async () => {
    await addOperator(h.store, "guessed");
    const client = new ConsoleClient(base);
    for (let attempt = 0; attempt < 5; attempt++) expect((await client.login("guessed", "wrong")).status).toBe(401);
    const blocked = await client.login("guessed");
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get("retry-after"))).toBeGreaterThan(0);
  });
});
