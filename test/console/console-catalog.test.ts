import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Catalog } from "../../protocol/catalog.ts";
import { catalogHash } from "../../protocol/catalog.ts";
import { machineStateWith } from "../bridge/helpers/fake-fleet.ts";
import { type Harness, machineKey } from "../bridge/helpers/harness.ts";
import { ConsoleClient, startConsoleBridge } from "./console-client.ts";

/**
 * The catalog page over HTTP (issue 22): a machine's prices as configured against what its agent last confirmed
 * (the state's catalogHash), and the edit form of a store machine: validated prices in major units, stored with an
 * audit entry naming the operator, pushed as cmd/config. Config-file machines are shown read-only.
 */

const s1Catalog: Catalog = {
  currency: "EUR",
  products: {
    A1: { name: "Still water", sku: "WATER-05", priceMinor: 150 },
    A2: { name: "Cola", sku: "COLA-033", priceMinor: 200, mdbItem: 2 },
  },
};

/** The edit form as the page posts it: one row per selection, prices in major units. */
function form(csrf: string, rows: [string, string, string, string][], extra: Record<string, string> = {}) {
  const body = new URLSearchParams({ csrf, ...extra });
  for (const [selection, name, sku, price] of rows) {
    body.append("selection", selection);
    body.append("name", name);
    body.append("sku", sku);
    body.append("price", price);
  }
  return body;
}

describe("catalog page over HTTP", () => {
  let h: Harness;
  let base: string;
  let client: ConsoleClient;

  beforeAll(async () => {
    ({ h, base } = await startConsoleBridge());
    await h.app.registry.add("S1", { name: "Store machine", commandKey: machineKey, catalog: s1Catalog });
    h.fleet.setOnline("S1");
    client = new ConsoleClient(base);
    await client.login();
  }, 120_000);

  afterAll(async () => {
    await h?.close();
  });

  const post = (path: string, body: URLSearchParams, origin = base) =>
    fetch(`${base}${path}`, {
      method: "POST",
      redirect: "manual",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        origin,
        ...(client.cookie ? { cookie: client.cookie } : {}),
      },
      body: body.toString(),
    });

  const storedS1 = async () => (await h.app.registry.get("S1"))?.catalog;

  it("without a session: GET goes to the login page, POST is refused with 401 and changes nothing", async () => {
    const anonymous = new ConsoleClient(base);
    for (const path of ["/console/catalog", "/console/machines/S1/catalog"]) {
      const response = await anonymous.get(path);
      expect(response.status, path).toBe(303);
      expect(response.headers.get("location")).toBe("/console/login");
    }
    const response = await anonymous.post("/console/machines/S1/catalog", { csrf: "x", price: "0.10" });
    expect(response.status).toBe(401);
    expect(await storedS1()).toEqual(s1Catalog);
  });

  it("lists every machine with its catalog's state, and shows config-file machines read-only", async () => {
    const list = await (await client.get("/console/catalog")).text();
    expect(list).toContain('href="/console/machines/S1/catalog"');
    expect(list).toContain('href="/console/machines/M1/catalog"');
    const m1 = await (await client.get("/console/machines/M1/catalog")).text();
    expect(m1).toContain("defined in the bridge's config file");
    expect(m1).not.toContain('name="price"');
    const s1 = await client.get("/console/machines/S1/catalog");
    expect(s1.status).toBe(200);
    const page = await s1.text();
    expect(page).toContain('name="price" value="1.50"');
    expect(page).toContain("Still water");
    // No state from the machine yet: nothing is confirmed.
    expect(page).toContain("not confirmed");
    expect((await client.get("/console/machines/NOPE/catalog")).status).toBe(404);
  });

  it("refuses a cross-site POST with 403 and changes nothing", async () => {
    const csrf = await client.csrfOf("/console/machines/S1/catalog");
    const sent = h.fleet.commands("config", "S1").length;
    const body = form(csrf, [
      ["A1", "Still water", "WATER-05", "0.10"],
      ["A2", "Cola", "COLA-033", "2.00"],
    ]);
    expect((await post("/console/machines/S1/catalog", body, "http://evil.example")).status).toBe(403);
    body.set("csrf", "not-the-token");
    expect((await post("/console/machines/S1/catalog", body)).status).toBe(403);
    expect(await storedS1()).toEqual(s1Catalog);
    expect(h.fleet.commands("config", "S1")).toHaveLength(sent);
  });

  it.each([
    ["zero", "0"],
    ["negative", "-1.00"],
    ["more decimals than EUR has", "1.505"],
    ["not a number", "one euro"],
    ["an exponent", "1e2"],
    ["empty", ""],
  ])("refuses a price that is %s with 400, naming it, and changes nothing", async (_label, price) => {
    const csrf = await client.csrfOf("/console/machines/S1/catalog");
    const sent = h.fleet.commands("config", "S1").length;
    const response = await post(
      "/console/machines/S1/catalog",
      form(csrf, [
        ["A1", "Still water", "WATER-05", price],
        ["A2", "Cola", "COLA-033", "2.00"],
      ]),
    );
    expect(response.status).toBe(400);
    expect(await response.text()).toContain('class="error"');
    expect(await storedS1()).toEqual(s1Catalog);
    expect(h.fleet.commands("config", "S1")).toHaveLength(sent);
  });

  it("refuses a selection twice, a bad selection key and removing every product", async () => {
    const csrf = await client.csrfOf("/console/machines/S1/catalog");
    for (const rows of [
      [
        ["A1", "Still water", "WATER-05", "1.50"],
        ["A1", "Cola", "COLA-033", "2.00"],
      ],
      [["A 1", "Still water", "WATER-05", "1.50"]],
    ] as [string, string, string, string][][]) {
      expect((await post("/console/machines/S1/catalog", form(csrf, rows))).status).toBe(400);
    }
    const all = form(csrf, [
      ["A1", "Still water", "WATER-05", "1.50"],
      ["A2", "Cola", "COLA-033", "2.00"],
    ]);
    all.append("remove", "A1");
    all.append("remove", "A2");
    expect((await post("/console/machines/S1/catalog", all)).status).toBe(400);
    expect(await storedS1()).toEqual(s1Catalog);
  });

  it("refuses to edit a config-file machine's catalog (409), changing nothing", async () => {
    const csrf = await client.csrfOf("/console/machines/S1/catalog");
    const response = await post("/console/machines/M1/catalog", form(csrf, [["A1", "Water", "W", "1.00"]]));
    expect(response.status).toBe(409);
    expect((await h.app.registry.get("M1"))?.catalog.products.A1?.priceMinor).toBe(150);
    expect(h.fleet.commands("config", "M1")).toHaveLength(0);
  });

  it("stores a change (price, name, a new selection, one removed), audits it with the operator and pushes it", async () => {
    const csrf = await client.csrfOf("/console/machines/S1/catalog");
    const body = form(csrf, [
      ["A1", "Sparkling water", "WATER-05", "1.20"],
      ["A2", "Cola", "COLA-033", "2.00"],
    ]);
    body.append("remove", "A2");
    body.set("new-selection", "B7");
    body.set("new-name", "Crisps");
    body.set("new-sku", "CRISP-1");
    body.set("new-price", "0.95");
    const response = await post("/console/machines/S1/catalog", body);
    expect(response.status).toBe(303);
    expect(response.headers.get("location")).toBe("/console/machines/S1/catalog");
    const expected: Catalog = {
      currency: "EUR",
      products: {
        A1: { name: "Sparkling water", sku: "WATER-05", priceMinor: 120 },
        B7: { name: "Crisps", sku: "CRISP-1", priceMinor: 95 },
      },
    };
    expect(await storedS1()).toEqual(expected);
    const [audit] = await h.store.listMachineAudit("S1", 10);
    expect(audit).toMatchObject({ machineId: "S1", reason: "catalog-changed", detail: { operator: "ops" } });
    expect(audit?.detail?.after).toEqual(expected);
    expect(h.fleet.commands("config", "S1").at(-1)?.body).toEqual({ catalog: expected });

    const pushed = await (await client.get("/console/machines/S1/catalog")).text();
    expect(pushed).toContain("pushed");
    expect(pushed).toContain("not yet confirmed");
    expect(pushed).toContain("Changed by ops");
    // The machine applies it: its retained state shows the new catalog's hash.
    h.fleet.setState("S1", machineStateWith(catalogHash(expected)));
    const confirmed = await (await client.get("/console/machines/S1/catalog")).text();
    expect(confirmed).toContain('class="status confirmed"');
  });

  it("shows which prices the machine still sells with when it reports an older catalog, highlighting differences", async () => {
    h.fleet.setState("S1", machineStateWith(catalogHash(s1Catalog)));
    const page = await (await client.get("/console/machines/S1/catalog")).text();
    expect(page).toMatch(/<tr class="differs"[^>]*data-selection="A1"/);
    expect(page).toContain("1.50 EUR");
  });

  it("says when a purchase is in progress on the machine: it takes new prices when the session ends", async () => {
    expect(await (await client.get("/console/machines/S1/catalog")).text()).not.toContain('id="in-progress"');
    const reference = await h.purchase("S1");
    await h.reserve(reference);
    const page = await (await client.get("/console/machines/S1/catalog")).text();
    expect(page).toContain('id="in-progress"');
    expect(page).toContain((await h.purchaseFor(reference)).sessionId);
  });
});
