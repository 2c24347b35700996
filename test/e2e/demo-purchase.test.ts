import { type ChildProcess, spawn } from "node:child_process";
import { resolve } from "node:path";
import type { Browser } from "playwright-core";
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

  it("stops cleanly on Ctrl-C", async () => {
    const exited = new Promise<number | null>((done) => demo.once("exit", (code) => done(code)));
    demo.kill("SIGINT");
    expect(await exited).toBe(0);
    expect(output).toContain("Stopped.");
  }, 30_000);
});
