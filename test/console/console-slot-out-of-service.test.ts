import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Catalog } from "../../protocol/catalog.ts";
import { type Harness, machineKey } from "../bridge/helpers/harness.ts";
import { ConsoleClient, flaggedPurchase, startConsoleBridge } from "./console-client.ts";

/**
 * The reconciliation queue's third action (issue 22): take the slot of a flagged purchase out of service. A slot is a
 * selection of the machine's catalog; taking it out removes it from the catalog through the same path as the catalog
 * page (stored, audited, pushed as a signed cmd/config), and the purchase's audit log says who did it. A machine whose
 * catalog is in the config file is refused with what to do instead, and nothing changes.
 */

const s1Catalog: Catalog = {
  currency: "EUR",
  products: {
    A1: { name: "Still water", sku: "WATER-05", priceMinor: 150 },
    A2: { name: "Cola", sku: "COLA-033", priceMinor: 200 },
  },
};

describe("taking a flagged purchase's slot out of service", () => {
  let h: Harness;
  let base: string;
  let client: ConsoleClient;
  let flaggedOnS1: string;
  let flaggedOnM1: string;

  beforeAll(async () => {
    ({ h, base, flagged: flaggedOnM1 } = await startConsoleBridge());
    await h.app.registry.add("S1", { name: "Store machine", commandKey: machineKey, catalog: s1Catalog });
    h.fleet.setOnline("S1");
    flaggedOnS1 = await flaggedPurchase(h, "S1");
    client = new ConsoleClient(base);
    await client.login();
  }, 120_000);

  afterAll(async () => {
    await h?.close();
  });

  const path = (sessionId: string) => `/console/purchases/${sessionId}/slot-out-of-service`;
  const storedS1 = async () => (await h.app.registry.get("S1"))?.catalog;
  const configsTo = (machineId: string) =>
    h.fleet.sent.filter((command) => command.machineId === machineId && command.name === "config");

  it("offers the slot of the vend whose outcome is unknown on the purchase's page", async () => {
    const page = await (await client.get(`/console/purchases/${flaggedOnS1}`)).text();
    expect(page).toContain(`action="${path(flaggedOnS1)}"`);
    expect(page).toMatch(
      /<option value="A2">A2 \(vend not delivered\)<\/option>\s*<option value="A1">A1 Still water<\/option>/,
    );
  });

  it("refuses without a session (401) and cross-site (403), changing nothing", async () => {
    const anonymous = new ConsoleClient(base);
    expect((await anonymous.post(path(flaggedOnS1), { csrf: "x", selection: "A2" })).status).toBe(401);
    const csrf = await client.csrfOf(`/console/purchases/${flaggedOnS1}`);
    const crossSite = await client.post(
      path(flaggedOnS1),
      { csrf, selection: "A2" },
      { origin: "http://evil.example" },
    );
    expect(crossSite.status).toBe(403);
    expect(await storedS1()).toEqual(s1Catalog);
    expect(configsTo("S1")).toEqual([]);
  });

  it("refuses a selection that is not in the catalog, and a config-file machine, with what to do instead", async () => {
    const csrf = await client.csrfOf(`/console/purchases/${flaggedOnS1}`);
    const unknown = await client.post(path(flaggedOnS1), { csrf, selection: "Z9" });
    expect(unknown.status).toBe(409);
    expect(await unknown.text()).toContain("Z9 is not in the catalog of S1");
    const configMachine = await client.post(path(flaggedOnM1), { csrf, selection: "A2" });
    expect(configMachine.status).toBe(409);
    expect(await configMachine.text()).toContain("config file");
    expect(await storedS1()).toEqual(s1Catalog);
    const audit = await h.store.listAudit(flaggedOnM1);
    expect(audit.filter((entry) => entry.reason === "reconcile:slot-out-of-service")).toEqual([]);
  });

  it("removes the slot from the catalog, pushes the signed cmd/config and writes who did it to the purchase", async () => {
    const csrf = await client.csrfOf(`/console/purchases/${flaggedOnS1}`);
    const response = await client.post(path(flaggedOnS1), { csrf, selection: "A2" });
    expect(response.status).toBe(303);
    expect(response.headers.get("location")).toBe(`/console/purchases/${flaggedOnS1}`);
    expect(Object.keys((await storedS1())?.products ?? {})).toEqual(["A1"]);
    // Sent through the same push as the catalog page (its signature is checked in catalog-agent.test.ts).
    const pushed = configsTo("S1");
    expect(pushed).toHaveLength(1);
    const [config] = pushed;
    expect(Object.keys((config?.body as { catalog: Catalog } | undefined)?.catalog.products ?? {})).toEqual(["A1"]);
    const entry = (await h.store.listAudit(flaggedOnS1)).find(
      (each) => each.reason === "reconcile:slot-out-of-service",
    );
    expect(entry?.detail).toMatchObject({ operator: "ops", selection: "A2", name: "Cola" });
    const page = await (await client.get(`/console/purchases/${flaggedOnS1}`)).text();
    expect(page).toContain("reconcile:slot-out-of-service");
    // Taken out already: asked again, it says so and changes nothing more.
    const again = await client.post(path(flaggedOnS1), { csrf, selection: "A2" });
    expect(again.status).toBe(409);
    expect(configsTo("S1")).toHaveLength(1);
  });

  it("never removes a machine's last product (the machine would have nothing to sell)", async () => {
    const csrf = await client.csrfOf(`/console/purchases/${flaggedOnS1}`);
    const response = await client.post(path(flaggedOnS1), { csrf, selection: "A1" });
    expect(response.status).toBe(409);
    expect(await response.text()).toContain("last product");
    expect(Object.keys((await storedS1())?.products ?? {})).toEqual(["A1"]);
  });
});
