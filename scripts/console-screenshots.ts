/**
 * `npm run docs:console`: screenshots of the web console's pages into docs/console/*.png, from a bridge in the test
 * harness (SQLite in a temp dir, the fake fleet and SEQR) with a few sales and one purchase flagged by a vend of
 * unknown outcome, then refunded in part. Needs Chromium (CHROMIUM_PATH, default /usr/bin/chromium).
 */
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { type Catalog, catalogHash } from "../protocol/catalog.ts";
import { machineStateWith } from "../test/bridge/helpers/fake-fleet.ts";
import { Harness, machineKey } from "../test/bridge/helpers/harness.ts";
import { addOperator, flaggedPurchase, operatorPassword } from "../test/console/console-client.ts";
import { launchChromium } from "../test/helpers/browser.ts";

const out = resolve(import.meta.dirname, "../docs/console");
const canteen: Catalog = {
  currency: "EUR",
  products: {
    A1: { name: "Still water", sku: "WATER-05", priceMinor: 150 },
    A2: { name: "Cola", sku: "COLA-033", priceMinor: 200 },
  },
};
mkdirSync(out, { recursive: true });

const h = await Harness.start("sqlite");
const browser = await launchChromium();
try {
  await addOperator(h.store);
  for (const prices of [[150], [200, 150]]) {
    const { reference, sessionId } = await h.reservedPurchase();
    await h.vendAndEnd(sessionId, prices);
    await h.drainOutbox();
    await h.waitForState(reference, "committed");
  }
  const flagged = await flaggedPurchase(h);
  for (const machineId of ["M1", "M2"]) {
    h.fleet.states.set(machineId, {
      screen: "idle",
      session: null,
      hardware: { driver: "spiral-board", link: "up" },
      lastFault: null,
      versions: { agent: "0.9.0", contract: 1 },
      ts: h.clock.now(),
    });
  }
  await h.app.alarms.evaluate();
  h.fleet.setOnline("M2", false);
  await h.store.setMachineUnavailable("M2", "refilling", h.clock.now());
  // Past alarms.offlineAfterMs (10 minutes): M2's "machine offline" alarm is on every page.
  await h.clock.advance(11 * 60_000);
  await h.app.alarms.evaluate();

  const base = h.app.admin.url;
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const shoot = async (name: string) => {
    await page.screenshot({ path: resolve(out, `${name}.png`), fullPage: true });
    console.log(`docs/console/${name}.png`);
  };
  await page.goto(`${base}/console/login`);
  await page.fill('input[name="name"]', "ops");
  await shoot("01-login");
  await page.fill('input[name="password"]', operatorPassword);
  await Promise.all([page.waitForURL(`${base}/console/fleet`), page.click('button[type="submit"]')]);
  await shoot("02-fleet");
  await page.goto(`${base}/console/purchases`);
  await shoot("03-purchases");
  await page.goto(`${base}/console/reconciliation`);
  await shoot("04-reconciliation");
  await page.goto(`${base}/console/purchases/${flagged}`);
  await shoot("05-purchase-flagged");
  await page.fill('textarea[name="note"]', "Spiral checked: the product was stuck; customer refunded in cash");
  await Promise.all([page.waitForLoadState("load"), page.click('button:has-text("Mark resolved")')]);
  await shoot("06-purchase-resolved");
  // A partial refund of the flagged purchase from its page (the harness's SEQR answers refundPayment).
  await page.fill('#refund-form input[name="amount"]', "0.50");
  await page.fill('#refund-form textarea[name="note"]', "Cola stuck in the spiral: refunded what was billed for it");
  await Promise.all([page.waitForLoadState("load"), page.click('button:has-text("Refund through SEQR")')]);
  await shoot("08-purchase-refund");
  await page.goto(`${base}/console/sales?by=product`);
  await shoot("07-sales-by-product");
  await page.goto(`${base}/console/machines/M1`);
  await shoot("09-machine");
  // The catalog page: a store machine whose price was changed and pushed, the machine still selling the old one.
  await h.app.registry.add("S1", { name: "Canteen", commandKey: machineKey, catalog: canteen });
  h.fleet.setOnline("S1");
  h.fleet.setState("S1", machineStateWith(catalogHash(canteen)));
  await page.goto(`${base}/console/catalog`);
  await shoot("10-catalog");
  await page.goto(`${base}/console/machines/S1/catalog`);
  await page.fill('tr[data-selection="A1"] input[name="price"]', "1.20");
  await page.fill('input[name="new-selection"]', "B7");
  await page.fill('input[name="new-name"]', "Crisps");
  await page.fill('input[name="new-sku"]', "CRISP-1");
  await page.fill('input[name="new-price"]', "0.95");
  await Promise.all([page.waitForLoadState("load"), page.click('button:has-text("Save and push")')]);
  await shoot("11-catalog-pushed");
  const changed = (await h.app.registry.get("S1"))?.catalog;
  if (changed) h.fleet.setState("S1", machineStateWith(catalogHash(changed)));
  await page.reload();
  await shoot("12-catalog-confirmed");
  await page.goto(`${base}/console/machines/M1/catalog`);
  await shoot("13-catalog-config-file");
} finally {
  await browser.close();
  await h.close();
}
