import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Harness } from "../bridge/helpers/harness.ts";
import { launchChromium } from "../helpers/browser.ts";
import { hasTool } from "../helpers/system-tools.ts";
import { operatorPassword, startConsoleBridge } from "./console-client.ts";

/**
 * The console in Debian's Chromium against a bridge in the harness: an operator logs in, finds the purchase a real
 * flow flagged (a vend of unknown outcome), marks it resolved with a note and sees the audit entry on its page. Every
 * request the pages make is recorded: all go to the bridge's own origin.
 */
describe.runIf(hasTool("chromium"))("web console in Chromium", () => {
  let h: Harness;
  let browser: Browser;
  let base: string;
  let flagged: string;

  beforeAll(async () => {
    ({ h, base, flagged } = await startConsoleBridge());
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await h?.close();
  });

  async function recordedPage(): Promise<{ page: Page; requested: string[]; errors: string[] }> {
    const page = await (await browser.newContext()).newPage();
    const requested: string[] = [];
    const errors: string[] = [];
    page.on("request", (request) => requested.push(request.url()));
    page.on("pageerror", (error) => errors.push(error.message));
    page.on("console", (message) => {
      if (message.type() === "error") errors.push(message.text());
    });
    return { page, requested, errors };
  }

  it("logs in, resolves the flagged purchase with a note and shows the audit entry, loading nothing from elsewhere", async () => {
    const { page, requested, errors } = await recordedPage();
    await page.goto(`${base}/console/reconciliation`);
    expect(new URL(page.url()).pathname).toBe("/console/login");
    await page.fill('input[name="name"]', "ops");
    await page.fill('input[name="password"]', operatorPassword);
    await Promise.all([page.waitForURL(`${base}/console/fleet`), page.click('button[type="submit"]')]);
    expect(await page.locator('tr[data-machine="M1"] td.online').textContent()).toBe("online");

    await page.click('a[href="/console/reconciliation"]');
    await page.click(`a[href="/console/purchases/${flagged}"]`);
    expect(await page.locator(".flag").first().textContent()).toBe("unknown-vend");
    await page.fill('textarea[name="note"]', "Spiral checked: product stuck, customer refunded in cash");
    await Promise.all([page.waitForLoadState("load"), page.click('button:has-text("Mark resolved")')]);
    expect(await page.locator("#resolution").textContent()).toContain("Resolved by ops at");
    expect(await page.locator("#resolution").textContent()).toContain("customer refunded in cash");
    expect(await page.locator("tr.audit", { hasText: "reconcile:resolved" }).count()).toBe(1);

    for (const path of ["/console/purchases?flagged=1", "/console/sales?by=day", "/console/fleet"])
      await page.goto(`${base}${path}`);
    expect(requested.length).toBeGreaterThan(8);
    for (const url of requested) expect(new URL(url).origin, url).toBe(base);
    expect(requested).toContain(`${base}/console/console.css`);
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it("refuses a form posted to the console from another site's page", async () => {
    const context = await browser.newContext();
    const login = await context.newPage();
    await login.goto(`${base}/console/login`);
    await login.fill('input[name="name"]', "ops");
    await login.fill('input[name="password"]', operatorPassword);
    await Promise.all([login.waitForURL(`${base}/console/fleet`), login.click('button[type="submit"]')]);
    const attacker = await context.newPage();
    // A page of another origin (a second listener of this test) posting the resolve form at the console.
    const { createServer } = await import("node:http");
    const evil = createServer((_request, response) => {
      response.writeHead(200, { "Content-Type": "text/html" });
      response.end(
        `<form method="post" action="${base}/console/purchases/${flagged}/resolve"><input name="note" value="forged">` +
          `<input name="csrf" value="guess"></form><script>document.forms[0].submit()</script>`,
      );
    });
    await new Promise<void>((resolve) => evil.listen(0, "localhost", resolve));
    const address = evil.address();
    const port = typeof address === "object" && address ? address.port : 0;
    const answered = attacker.waitForResponse((response) => response.url().includes("/resolve"));
    await attacker.goto(`http://localhost:${port}/`);
    const response = await answered;
    expect([401, 403]).toContain(response.status());
    const audit = await h.store.listAudit(flagged);
    expect(audit.some((entry) => entry.detail?.note === "forged")).toBe(false);
    await new Promise((resolve) => evil.close(resolve));
    await context.close();
  });
});
