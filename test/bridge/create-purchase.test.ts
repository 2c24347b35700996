import { describe, expect, it } from "vitest";
import { describeEachStore, harnessPerTest } from "./helpers/harness.ts";

const body = (fields: Record<string, unknown> = {}) => ({
  token: "M1",
  amount: 20.0,
  currency: "EUR",
  msisdn: "46701234567",
  ...fields,
});

describeEachStore("createPurchase", (start) => {
  it("answers {invoiceReferenceId} for every published request spelling", async () => {
    const h = await start();
    const seed = await h.createPurchase(body());
    expect(seed).toEqual({ status: 200, json: { invoiceReferenceId: expect.stringMatching(/^\d+$/) } });
    await h.store.transition(
      (await h.purchaseFor(seed.json.invoiceReferenceId as string)).sessionId,
      ["invoiced"],
      "cancelled",
      {},
      { reason: "test", at: 1 },
    );
    const ups18 = await h.createPurchase({
      reservationToken: "M1",
      reservationAmount: "20.00",
      currency: "EUR",
      msisdn: "483344323423",
    });
    expect(ups18.json.invoiceReferenceId).toMatch(/^\d+$/);
    const purchase = await h.purchaseFor(ups18.json.invoiceReferenceId as string);
    expect(purchase.amountMinor).toBe(2000);
    await h.store.transition(purchase.sessionId, ["invoiced"], "cancelled", {}, { reason: "test", at: 1 });
    const prose = await h.createPurchase({ purchaseToken: "M1", amount: "7.5", currency: "EUR" });
    expect((await h.purchaseFor(prose.json.invoiceReferenceId as string)).amountMinor).toBe(750);
  });

  it("DEVICE_UNAVAILABLE: unknown token, machine offline, out of service, flagged unavailable", async () => {
    const h = await start();
    expect((await h.createPurchase(body({ token: "NOPE" }))).json).toEqual({ errorCode: "DEVICE_UNAVAILABLE" });
    h.fleet.online.delete("M1");
    expect((await h.createPurchase(body())).json).toEqual({ errorCode: "DEVICE_UNAVAILABLE" });
    h.fleet.online.add("M1");
    h.fleet.states.set("M1", {
      screen: "out-of-service",
      session: null,
      hardware: { driver: "sim", link: "down" },
      lastFault: null,
      versions: { agent: "1", contract: 1 },
      ts: 1,
    });
    expect((await h.createPurchase(body())).json).toEqual({ errorCode: "DEVICE_UNAVAILABLE" });
    h.fleet.states.delete("M1");
    await h.store.setMachineUnavailable("M1", "unlock-not-acknowledged", 1);
    expect((await h.createPurchase(body())).json).toEqual({ errorCode: "DEVICE_UNAVAILABLE" });
    await h.store.clearMachineUnavailable("M1");
    expect((await h.createPurchase(body())).json).toHaveProperty("invoiceReferenceId");
    expect(h.seqr.count("sendInvoice")).toBe(1);
  });

  it("INSUFFICIENT_FUNDS: below the cheapest product (a currency the machine does not sell in: seqr-protocol-items)", async () => {
    const h = await start();
    expect((await h.createPurchase(body({ amount: 1.49 }))).json).toEqual({ errorCode: "INSUFFICIENT_FUNDS" });
    expect((await h.createPurchase(body({ amount: 1.5 }))).json).toHaveProperty("invoiceReferenceId");
    expect(h.seqr.count("sendInvoice")).toBe(1);
  });

  it("DEVICE_IN_USE while another session holds the machine", async () => {
    const h = await start();
    await h.purchase();
    expect((await h.createPurchase(body())).json).toEqual({ errorCode: "DEVICE_IN_USE" });
    // Another machine is not affected.
    expect((await h.createPurchase(body({ token: "M2", amount: 20, currency: "SEK" }))).json).toHaveProperty(
      "invoiceReferenceId",
    );
  });

  it("INVOICING_ERROR when sendInvoice fails or times out; the claim is released", async () => {
    const h = await start();
    h.seqr.fail("sendInvoice", 49);
    expect((await h.createPurchase(body())).json).toEqual({ errorCode: "INVOICING_ERROR" });
    h.seqr.fail("sendInvoice", "transport");
    expect((await h.createPurchase(body())).json).toEqual({ errorCode: "INVOICING_ERROR" });
    h.seqr.hang("sendInvoice");
    const pending = h.createPurchase(body());
    await new Promise((resolve) => setTimeout(resolve, 50));
    await h.clock.advance(5_000);
    expect((await pending).json).toEqual({ errorCode: "INVOICING_ERROR" });
    const failed = await h.store.listPurchases();
    expect(failed.map((purchase) => purchase.state)).toEqual(["failed", "failed", "failed"]);
    expect(await h.store.holderOf("M1")).toBeUndefined();
    expect((await h.createPurchase(body())).json).toHaveProperty("invoiceReferenceId");
  });

  it("SYSTEM_ERROR for malformed requests, changing nothing", async () => {
    const h = await start();
    const bad: unknown[] = [
      "not json",
      "[]",
      { amount: 20, currency: "EUR" },
      body({ amount: "twenty" }),
      body({ amount: 20.001 }),
      body({ amount: -5 }),
      body({ amount: 1e21 }),
      body({ currency: "eur" }),
      body({ token: "M1/../x" }),
      body({ token: 42 }),
      body({ amount: undefined }),
    ];
    for (const request of bad) {
      const answer = await h.createPurchase(request);
      expect(answer, JSON.stringify(request)).toEqual({ status: 200, json: { errorCode: "SYSTEM_ERROR" } });
    }
    expect(h.seqr.calls).toHaveLength(0);
    expect(await h.store.listPurchases()).toHaveLength(0);
  });

  it("100 concurrent createPurchase for one machine: exactly one invoice and 99 DEVICE_IN_USE", async () => {
    const h = await start();
    const answers = await Promise.all(Array.from({ length: 100 }, () => h.createPurchase(body())));
    const codes = answers.map((answer) => (answer.json.errorCode as string | undefined) ?? "OK");
    expect(codes.filter((code) => code === "OK")).toHaveLength(1);
    expect(codes.filter((code) => code === "DEVICE_IN_USE")).toHaveLength(99);
    expect(h.seqr.count("sendInvoice")).toBe(1);
    expect(h.seqr.invoices.size).toBe(1);
  });
});

describe("the HTTP edge", () => {
  const start = harnessPerTest("sqlite");

  it("basic auth: refuses missing or wrong credentials with 401, accepts the right ones", async () => {
    const h = await start({
      callerAuth: { mode: "basic", username: "seqr-ups", password: "correct-horse-battery" },
    });
    expect((await h.createPurchase(body())).status).toBe(401);
    const wrong = `Basic ${Buffer.from("seqr-ups:wrong-password-123").toString("base64")}`;
    expect((await h.createPurchase(body(), { Authorization: wrong })).status).toBe(401);
    const right = `Basic ${Buffer.from("seqr-ups:correct-horse-battery").toString("base64")}`;
    const ok = await h.createPurchase(body(), { Authorization: right });
    expect(ok.status).toBe(200);
    expect(ok.json).toHaveProperty("invoiceReferenceId");
    expect(h.seqr.count("sendInvoice")).toBe(1);
  });

  it("refuses an oversized body without reading it", async () => {
    const h = await start({ http: { bodyLimitBytes: 256 } });
    const answer = await h.createPurchase({ ...body(), padding: "x".repeat(1_000) });
    expect(answer.json).toEqual({ errorCode: "SYSTEM_ERROR" });
    expect(h.seqr.calls).toHaveLength(0);
  });

  it("rate-limits one caller's createPurchase per token: DEVICE_IN_USE, no new invoice", async () => {
    const h = await start({ http: { rateLimitPerTokenPerMinute: 3 } });
    const codes: string[] = [];
    for (let i = 0; i < 5; i++) codes.push(((await h.createPurchase(body())).json.errorCode as string) ?? "OK");
    expect(codes).toEqual(["OK", "DEVICE_IN_USE", "DEVICE_IN_USE", "DEVICE_IN_USE", "DEVICE_IN_USE"]);
    expect(h.seqr.count("sendInvoice")).toBe(1);
    // Another token has its own bucket; time refills the bucket.
    expect((await h.createPurchase(body({ token: "M2", currency: "SEK" }))).json).toHaveProperty("invoiceReferenceId");
    await h.clock.advance(20_000);
    expect((await h.createPurchase(body())).json).toEqual({ errorCode: "DEVICE_IN_USE" });
  });

  it("serves /healthz and Prometheus /metrics on the admin listener only, not on the public API", async () => {
    const h = await start();
    await h.purchase();
    await h.createPurchase(body());
    for (const path of ["/metrics", "/healthz", "/seqr/metrics"]) {
      expect((await fetch(`${h.app.http.url}${path}`)).status).toBe(404);
    }
    expect(h.app.admin.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const health = await fetch(`${h.app.admin.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "ok", store: "ok", machinesOnline: 2 });
    const metrics = await (await fetch(`${h.app.admin.url}/metrics`)).text();
    expect(metrics).toContain('vend_bridge_create_purchase_total{result="OK"} 1');
    expect(metrics).toContain('vend_bridge_create_purchase_total{result="DEVICE_IN_USE"} 1');
    expect(metrics).toMatch(/vend_bridge_seqr_call_duration_seconds_count\{operation="sendInvoice",outcome="ok"\} 1/);
    expect(metrics).toContain("vend_bridge_machines_online 2");
    expect(metrics).toContain("vend_bridge_invalid_machine_messages 0");
    // The store's own counters: two createPurchase answers, one claim and one invoice stored durably.
    const storeCounter = (name: string) =>
      Number(new RegExp(`vend_bridge_store_operations\\{counter="${name}"\\} (\\d+)`).exec(metrics)?.[1]);
    expect(storeCounter("durableCommits")).toBe(h.store.stats.durableCommits);
    expect(storeCounter("durableCommits")).toBeGreaterThanOrEqual(2);
    expect(storeCounter("statements")).toBeGreaterThan(storeCounter("durableCommits"));
    h.fleet.invalidMessages = 7;
    expect(await (await fetch(`${h.app.admin.url}/metrics`)).text()).toContain(
      "vend_bridge_invalid_machine_messages 7",
    );
    await h.store.close();
    expect((await fetch(`${h.app.admin.url}/healthz`)).status).toBe(503);
  });
});
