import { type ChildProcess, spawn } from "node:child_process";
import { resolve } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium } from "../helpers/browser.ts";
import { hasTool } from "../helpers/system-tools.ts";

/**
 * The README's main job, as a customer would do it: `npm start`'s demo, driven in Chromium. Scan a machine's QR by
 * clicking it on the machine's screen, confirm on the phone with the PIN, pick a product on the machine's screen,
 * and check the invoice the SEQR sandbox ends with: paid exactly the price of what was vended.
 */

interface DemoInvoice {
  invoiceReference: string;
  status: string;
  title: string;
  rows: { description: string; quantity: number; minor: number }[];
  paid?: { minor: number };
}

/** The browser globals used inside page functions (the project's types have no DOM library). */
interface CursorWindow {
  getComputedStyle(element: unknown): { cursor: string; fontSize: string };
}

const root = resolve(import.meta.dirname, "../..");

describe.runIf(hasTool("chromium"))("the demo page, end to end in Chromium", () => {
  let demo: ChildProcess;
  let demoUrl: string;
  let output = "";
  let browser: Browser;

  beforeAll(async () => {
    demo = spawn(process.execPath, ["--import", "tsx", "demo/main.ts", "--port", "0"], {
      cwd: root,
      env: { ...process.env, NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    demo.stdout?.on("data", (chunk) => {
      output += chunk;
    });
    demo.stderr?.on("data", (chunk) => {
      output += chunk;
    });
    demoUrl = await new Promise<string>((resolveUrl, reject) => {
      const timer = setTimeout(() => reject(new Error(`the demo did not start:\n${output}`)), 60_000);
      const poll = setInterval(() => {
        const found = /Open (http:\/\/\S+) in a browser/.exec(output);
        if (found?.[1]) {
          clearInterval(poll);
          clearTimeout(timer);
          resolveUrl(found[1]);
        }
      }, 100);
    });
    browser = await launchChromium();
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    if (demo && demo.exitCode === null) {
      const exited = new Promise((done) => demo.once("exit", done));
      demo.kill("SIGINT");
      await exited;
    }
  }, 30_000);

  async function invoices(): Promise<DemoInvoice[]> {
    const state = (await (await fetch(new URL("api/state", demoUrl))).json()) as { invoices: DemoInvoice[] };
    return state.invoices;
  }

  it("buys an apple from the spiral machine: scan, confirm with PIN, choose, and the sandbox is paid 0.90 EUR", async () => {
    const page = await browser.newPage({ viewport: { width: 1500, height: 1300 } });
    await page.goto(demoUrl);
    const machine = page.frameLocator('iframe[name="screen-DEMO-SPIRAL"]');
    const phone = page.frameLocator('iframe[name="phone"]');

    // The machine shows its QR; clicking it is the customer's scan.
    await machine.locator("#qr svg").waitFor({ state: "visible", timeout: 20_000 });
    await machine.locator("#qr").click();

    // The phone (SEQR app) shows the reservation; the customer confirms with the PIN.
    const confirm = phone.getByRole("button", { name: "Confirm with PIN" });
    await confirm.waitFor({ state: "visible", timeout: 20_000 });
    await confirm.click();

    // The machine unlocks: choose a product within the budget.
    const apple = machine.getByRole("button", { name: /Apple/ });
    await apple.waitFor({ state: "visible", timeout: 20_000 });
    await apple.click();
    await machine.getByText("Thank you!").waitFor({ timeout: 20_000 });

    // The bridge commits exactly what was vended; the phone shows the final invoice.
    let invoice: DemoInvoice | undefined;
    for (let attempt = 0; attempt < 100; attempt++) {
      invoice = (await invoices()).find((candidate) => candidate.title.includes("DEMO-SPIRAL"));
      if (invoice?.status === "PAID") break;
      await new Promise((done) => setTimeout(done, 100));
    }
    expect(invoice?.status).toBe("PAID");
    expect(invoice?.paid?.minor).toBe(90);
    expect(invoice?.rows.map((row) => [row.description, row.quantity, row.minor])).toEqual([["Apple", 1, 90]]);
    await phone.getByText("Paid 0.90 EUR").waitFor({ timeout: 10_000 });
    await page.close();
  }, 90_000);

  /** The invoice the next scan creates: the one not among those known before it. */
  async function newInvoice(known: Set<string>, status?: string): Promise<DemoInvoice> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const found = (await invoices()).find(
        (candidate) => !known.has(candidate.invoiceReference) && (status === undefined || candidate.status === status),
      );
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no new invoice${status ? ` in status ${status}` : ""}`);
      await new Promise((done) => setTimeout(done, 100));
    }
  }

  async function knownInvoices(): Promise<Set<string>> {
    return new Set((await invoices()).map((invoice) => invoice.invoiceReference));
  }

  /**
   * Every title the machine's screen shows from now on, recorded inside the page as it changes: an end screen is up
   * for a few seconds only, and a busy test machine must not make the test miss it.
   */
  async function recordTitles(page: Page, machineId: string): Promise<() => Promise<string[]>> {
    const frame = page.frame({ name: `screen-${machineId}` });
    if (!frame) throw new Error(`no frame for ${machineId}`);
    await frame.evaluate(`(() => {
      const title = document.getElementById("title");
      window.__titles = [title.textContent];
      new MutationObserver(() => {
        if (window.__titles[window.__titles.length - 1] !== title.textContent) window.__titles.push(title.textContent);
      }).observe(title, { childList: true, characterData: true, subtree: true });
    })()`);
    return async () => (await frame.evaluate("window.__titles")) as string[];
  }

  async function scanAndConfirm(page: Page, machineId: string, confirm: boolean): Promise<void> {
    const machine = page.frameLocator(`iframe[name="screen-${machineId}"]`);
    await machine.locator("#qr svg").waitFor({ state: "visible", timeout: 20_000 });
    await machine.locator("#qr").click();
    if (!confirm) return;
    const phone = page.frameLocator('iframe[name="phone"]');
    const button = phone.getByRole("button", { name: "Confirm with PIN" });
    await button.waitFor({ state: "visible", timeout: 20_000 });
    await button.click();
  }

  it("MDB multi-vend: buys two products in one session, Done bills exactly both", async () => {
    const page = await browser.newPage({ viewport: { width: 1500, height: 1300 } });
    const machine = page.frameLocator('iframe[name="screen-DEMO-MDB"]');
    await page.goto(demoUrl);
    const known = await knownInvoices();
    await scanAndConfirm(page, "DEMO-MDB", true);
    const choose = machine.locator("main[data-screen='choose-product']");
    await choose.getByText("Up to 20.00 EUR").waitFor({ timeout: 20_000 });
    await machine.getByRole("button", { name: /Still water/ }).click();
    // Still the same session: the screen comes back with the budget left, not with the thank-you.
    await choose.getByText("Up to 18.50 EUR").waitFor({ timeout: 20_000 });
    await machine.getByRole("button", { name: /Cola/ }).click();
    await choose.getByText("Up to 16.50 EUR").waitFor({ timeout: 20_000 });
    await machine.getByRole("button", { name: "Done" }).click();
    await machine.getByText("You paid 3.50 EUR").waitFor({ timeout: 20_000 });
    const invoice = await newInvoice(known, "PAID");
    expect(invoice.paid?.minor).toBe(350);
    expect(invoice.rows.map((row) => [row.description, row.quantity, row.minor])).toEqual([
      ["Still water", 1, 150],
      ["Cola", 1, 200],
    ]);
    await page.close();
  }, 120_000);

  it("MDB: a decline on the phone reads Payment cancelled, Cancel at the machine too, an empty Done Nothing chosen", async () => {
    const page = await browser.newPage({ viewport: { width: 1500, height: 1300 } });
    const machine = page.frameLocator('iframe[name="screen-DEMO-MDB"]');
    const phone = page.frameLocator('iframe[name="phone"]');
    await page.goto(demoUrl);
    await machine.locator("#qr svg").waitFor({ state: "visible", timeout: 20_000 });

    // Declined on the phone.
    let titles = await recordTitles(page, "DEMO-MDB");
    let known = await knownInvoices();
    await scanAndConfirm(page, "DEMO-MDB", false);
    await phone.getByRole("button", { name: "Decline" }).click({ timeout: 20_000 });
    await expect.poll(titles, { timeout: 30_000 }).toContain("Payment cancelled");
    expect(await titles()).not.toContain("Sorry, the vend failed");
    await newInvoice(known, "CANCELED");

    // Cancelled at the machine while it waits for the phone: the invoice is cancelled too.
    await machine.locator("#qr svg").waitFor({ state: "visible", timeout: 20_000 });
    titles = await recordTitles(page, "DEMO-MDB");
    known = await knownInvoices();
    await scanAndConfirm(page, "DEMO-MDB", false);
    await machine
      .locator("#countdown")
      .getByText(/\d+ s left/)
      .waitFor({ timeout: 20_000 });
    await machine.getByRole("button", { name: "Cancel" }).click();
    await expect.poll(titles, { timeout: 30_000 }).toContain("Payment cancelled");
    await newInvoice(known, "CANCELED");

    // Confirmed, then Done with nothing chosen: not charged.
    await machine.locator("#qr svg").waitFor({ state: "visible", timeout: 20_000 });
    titles = await recordTitles(page, "DEMO-MDB");
    known = await knownInvoices();
    await scanAndConfirm(page, "DEMO-MDB", true);
    await machine.locator("main[data-screen='choose-product']").waitFor({ timeout: 20_000 });
    await machine.getByRole("button", { name: "Done" }).click();
    await expect.poll(titles, { timeout: 30_000 }).toContain("Nothing chosen");
    expect(await titles()).not.toContain("Sorry, the vend failed");
    const invoice = await newInvoice(known);
    await expect
      .poll(async () => (await invoices()).find((i) => i.invoiceReference === invoice.invoiceReference)?.status, {
        timeout: 30_000,
      })
      .toBe("CANCELED");
    await page.close();
  }, 180_000);

  it("MDB selection first: press Cola on the machine, the screen asks 2.00 EUR for it, scan, confirm, paid 2.00", async () => {
    const page = await browser.newPage({ viewport: { width: 1500, height: 1300 } });
    const machine = page.frameLocator('iframe[name="screen-DEMO-MDB"]');
    await page.goto(demoUrl);
    const known = await knownInvoices();
    // The idle screen stands for the VMC's keypad: the customer presses the product before paying.
    await machine.locator("main[data-screen='idle']").getByRole("button", { name: /Cola/ }).click({ timeout: 20_000 });
    await machine.getByText("Pay 2.00 EUR for Cola").waitFor({ timeout: 20_000 });
    await scanAndConfirm(page, "DEMO-MDB", true);
    await machine.getByText("You paid 2.00 EUR").waitFor({ timeout: 30_000 });
    const invoice = await newInvoice(known, "PAID");
    expect(invoice.paid?.minor).toBe(200);
    expect(invoice.rows.map((row) => [row.description, row.quantity, row.minor])).toEqual([["Cola", 1, 200]]);
    await page.close();
  }, 120_000);

  it("the demo page: nothing fails on load, pointer visible in the frames, a steady time column, names the SEQR call", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    const failed: string[] = [];
    page.on("response", (response) => {
      if (response.status() >= 400) failed.push(`${response.status()} ${response.url()}`);
    });
    page.on("console", (message) => {
      if (message.type() === "error") failed.push(message.text());
    });
    await page.goto(demoUrl);
    const machine = page.frameLocator('iframe[name="screen-DEMO-MDB"]');
    await machine.locator("#qr svg").waitFor({ state: "visible", timeout: 20_000 });
    const phone = page.frameLocator('iframe[name="phone"]');
    await phone.locator("#invoices .card").first().waitFor({ timeout: 20_000 });
    await page.locator("#flow .time").first().waitFor({ timeout: 20_000 });
    expect(failed).toEqual([]);

    // The kiosk's hidden pointer is for the touch screen, not for a visitor's mouse over the demo.
    const cursor = await machine
      .locator("body")
      .evaluate((body) => (globalThis as unknown as CursorWindow).getComputedStyle(body).cursor);
    expect(cursor).not.toBe("none");

    // The scan field's example is a code that works here.
    expect(await phone.locator("#qr").getAttribute("placeholder")).toBe(
      "HTTP://SEQR.SE/000/ups?w=seqr-vend-demo&t=DEMO-MDB",
    );

    // One time format, one column: every line's text starts at the same x.
    const times = await page
      .locator("#flow .time")
      .evaluateAll((spans) =>
        spans.map((span) => ({ text: span.textContent, right: span.getBoundingClientRect().right })),
      );
    expect(times.length).toBeGreaterThan(3);
    for (const time of times) expect(time.text).toMatch(/^\d\d:\d\d:\d\d$/);
    expect(new Set(times.map((time) => Math.round(time.right))).size).toBe(1);

    // After the purchases above, the flow names the SEQR call with its amount, and the vend's result.
    const flowText = await page.locator("#flow").textContent();
    expect(flowText).toMatch(/SEQR commitReservation done: invoice \d+: 3\.50 EUR paid/);
    expect(flowText).toMatch(/vend result: delivered \(vend-success\)/);
    await page.close();
  }, 90_000);

  it("product names stay on one line in the demo's narrow machine frame", async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 1000 } });
    await page.goto(demoUrl);
    const machine = page.frameLocator('iframe[name="screen-DEMO-MDB"]');
    await scanAndConfirm(page, "DEMO-MDB", true);
    await machine.locator("main[data-screen='choose-product'] #products button").first().waitFor({ timeout: 20_000 });
    const names = await machine.locator("#products .name").evaluateAll((spans) =>
      spans.map((span) => ({
        text: span.textContent,
        height: span.getBoundingClientRect().height,
        lineHeight: Number.parseFloat((globalThis as unknown as CursorWindow).getComputedStyle(span).fontSize) * 1.5,
      })),
    );
    expect(names.map((name) => name.text)).toEqual(["Still water", "Cola", "Chocolate bar"]);
    for (const name of names) expect(name.height, name.text ?? "").toBeLessThanOrEqual(name.lineHeight);
    await machine.getByRole("button", { name: "Done" }).click();
    await machine.locator("#qr svg").waitFor({ state: "visible", timeout: 30_000 });
    await page.close();
  }, 90_000);

  it("the operator console: the banner's operator logs in, sees both machines online and the apple's purchase committed", async () => {
    const found = /Console:\s+(http:\/\/\S+) \(operator (\S+), password (\S+)\)/.exec(output);
    expect(found, output).not.toBeNull();
    const [, consoleUrl, name, password] = found as unknown as [string, string, string, string];
    const page = await browser.newPage();
    await page.goto(consoleUrl);
    await page.fill('input[name="name"]', name);
    await page.fill('input[name="password"]', password);
    await Promise.all([page.waitForURL(/\/console\/fleet/), page.click('button[type="submit"]')]);
    for (const machine of ["DEMO-SPIRAL", "DEMO-MDB"]) {
      expect(await page.locator(`tr[data-machine="${machine}"] td.online`).textContent()).toBe("online");
    }
    await page.goto(new URL("/console/purchases?machine=DEMO-SPIRAL", consoleUrl).href);
    expect(await page.locator("tbody tr", { hasText: "committed" }).filter({ hasText: "0.90" }).count()).toBe(1);
    await page.close();
  }, 60_000);

  it("stops cleanly on Ctrl-C", async () => {
    const exited = new Promise<number | null>((done) => demo.once("exit", (code) => done(code)));
    demo.kill("SIGINT");
    expect(await exited).toBe(0);
    expect(output).toContain("Stopped.");
  }, 30_000);
});
