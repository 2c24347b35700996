import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { catalogHash } from "../../protocol/catalog.ts";
import { verifyCommandSignature } from "../../protocol/signing.ts";
import { launchChromium } from "../helpers/browser.ts";
import { eventually } from "../helpers/eventually.ts";
import { hasTool } from "../helpers/system-tools.ts";
import { CatalogAgentBed, s1Key } from "./catalog-agent-bed.ts";
import { ConsoleClient, operatorPassword } from "./console-client.ts";

/**
 * The catalog page end to end (issue 22): a price changed in the console goes over MQTT as a cmd/config signed with
 * the machine's key, a real agent verifies and applies it, its retained state reports the new catalog's hash, and the
 * page shows the change confirmed. In Chromium when it is installed; the signature check runs over HTTP regardless.
 */
describe("catalog changes confirmed by a real agent", () => {
  let bed: CatalogAgentBed;
  let browser: Browser | undefined;

  beforeAll(async () => {
    bed = await CatalogAgentBed.start();
    if (hasTool("chromium")) browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await bed?.close();
  });

  it("the agent's catalog is confirmed from the start; a change posted over HTTP goes out signed with S1's key and is applied", async () => {
    const client = new ConsoleClient(bed.base);
    await client.login();
    expect(await (await client.get("/console/machines/S1/catalog")).text()).toContain('class="status confirmed"');
    const csrf = await client.csrfOf("/console/machines/S1/catalog");
    const form = new URLSearchParams({ csrf });
    for (const [selection, name, sku, price] of [
      ["A1", "Water", "WATER", "1.40"],
      ["A2", "Cola", "COLA", "2.00"],
      ["B1", "Chocolate", "CHOC", "1.20"],
    ]) {
      form.append("selection", selection as string);
      form.append("name", name as string);
      form.append("sku", sku as string);
      form.append("price", price as string);
    }
    const response = await fetch(`${bed.base}/console/machines/S1/catalog`, {
      method: "POST",
      redirect: "manual",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        origin: bed.base,
        cookie: client.cookie ?? "",
      },
      body: form.toString(),
    });
    expect(response.status).toBe(303);
    const [onWire] = await eventually(() => {
      expect(bed.configsOnWire.length).toBeGreaterThan(0);
      return bed.configsOnWire;
    });
    const payload = onWire as Record<string, unknown> & {
      catalog: { products: Record<string, { priceMinor: number }> };
    };
    expect(payload.catalog.products.A1?.priceMinor).toBe(140);
    expect(verifyCommandSignature(s1Key, "S1", "config", payload)).toBe(true);
    expect(verifyCommandSignature("6b".repeat(32), "S1", "config", payload)).toBe(false);
    expect(verifyCommandSignature(s1Key, "S2", "config", payload)).toBe(false);
    // The agent took it: it sells at 1.40 and its retained state says so.
    await eventually(() => expect(bed.agent.agent.catalog().products.A1?.priceMinor).toBe(140));
    const stored = (await bed.app.registry.get("S1"))?.catalog;
    await eventually(() => expect(bed.fleet.lastState("S1")?.catalogHash).toBe(stored && catalogHash(stored)));
    expect(await (await client.get("/console/machines/S1/catalog")).text()).toContain('class="status confirmed"');
  });

  it.runIf(hasTool("chromium"))(
    "in Chromium: an operator edits a price, saves, and sees it pushed, then confirmed by the agent",
    async () => {
      const page = await (browser as Browser).newPage();
      await page.goto(`${bed.base}/console/login`);
      await page.fill('input[name="name"]', "ops");
      await page.fill('input[name="password"]', operatorPassword);
      await Promise.all([page.waitForURL(`${bed.base}/console/fleet`), page.click('button[type="submit"]')]);
      await page.click('a[href="/console/catalog"]');
      await page.click('a[href="/console/machines/S1/catalog"]');
      await page.fill('tr[data-selection="A2"] input[name="price"]', "2.30");
      await Promise.all([page.waitForLoadState("load"), page.click('button:has-text("Save and push")')]);
      expect(new URL(page.url()).pathname).toBe("/console/machines/S1/catalog");
      // Right after the save: pushed (or already confirmed, if the agent was quicker than the redirect).
      expect(await page.locator("#catalog-status").textContent()).toMatch(
        /Sent as cmd\/config|sells with this catalog/,
      );
      await eventually(async () => {
        await page.reload();
        expect(await page.locator(".status").first().textContent()).toBe("confirmed");
      }, 30_000);
      expect(await page.locator('tr[data-selection="A2"] td.machine-price').textContent()).toBe("2.30 EUR");
      expect(bed.agent.agent.catalog().products.A2?.priceMinor).toBe(230);
      expect(await page.locator("ul.changes li").first().textContent()).toContain("A2 2.00 EUR → 2.30 EUR");
      await page.close();
    },
    120_000,
  );

  it("a machine offline when its catalog changed gets it when it reconnects, and confirms it", async () => {
    await bed.agent.cleanup();
    await eventually(() => expect(bed.fleet.isOnline("S1")).toBe(false), 30_000);
    const current = (await bed.app.registry.get("S1"))?.catalog;
    if (!current) throw new Error("S1 has no catalog");
    const changed = {
      ...current,
      products: { ...current.products, B1: { name: "Chocolate", sku: "CHOC", priceMinor: 175 } },
    };
    await bed.app.catalogs.change("S1", changed, "ops");
    // Sent into the void: the machine is offline and its session is clean.
    await bed.startAgent();
    await eventually(() => expect(bed.agent.agent.catalog().products.B1?.priceMinor).toBe(175), 30_000);
    await eventually(() => expect(bed.fleet.lastState("S1")?.catalogHash).toBe(catalogHash(changed)), 30_000);
    expect(bed.app.catalogs.confirmation("S1", changed).status).toBe("confirmed");
  }, 120_000);
});
