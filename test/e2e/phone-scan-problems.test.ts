import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type SeqrSandbox, startSeqrSandbox } from "../../backend-bridge/sandbox/seqr-sandbox.ts";
import { launchChromium } from "../helpers/browser.ts";
import { hasTool } from "../helpers/system-tools.ts";

/**
 * Scanning a machine that cannot start a payment (issue 21 item 9): the sandbox's phone shows each of the five
 * createPurchase errorCodes in words a customer understands, whether the phone itself scanned or the demo page
 * scanned for it. A stand-in reseller answers the errorCode the test asks for.
 */

const customer = { msisdn: "46700000077", pin: "2468" };
const qr = "HTTP://SEQR.SE/000/ups?w=acme&t=M0042";
const expected: [string, string, RegExp][] = [
  ["DEVICE_IN_USE", "This machine is in use by another customer", /Wait until they have finished/],
  ["DEVICE_UNAVAILABLE", "This machine is out of service", /another machine/],
  ["INSUFFICIENT_FUNDS", "The amount is too low for this machine", /higher amount/],
  ["INVOICING_ERROR", "The payment could not be started", /scan again in a moment/],
  ["SYSTEM_ERROR", "Something went wrong at the machine's operator", /try again later/],
];

describe.runIf(hasTool("chromium"))("the sandbox phone explains a scan that started no payment", () => {
  let browser: Browser;
  let reseller: Server;
  let sandbox: SeqrSandbox;
  let answer = "SYSTEM_ERROR";

  beforeAll(async () => {
    reseller = createServer((request, response) => {
      request.resume();
      request.on("end", () => {
        response.writeHead(200, { "content-type": "application/json;charset=UTF-8" });
        response.end(JSON.stringify({ errorCode: answer }));
      });
    });
    await new Promise<void>((resolve) => reseller.listen(0, "127.0.0.1", resolve));
    const { port } = reseller.address() as AddressInfo;
    sandbox = await startSeqrSandbox({
      terminals: [{ id: "0123456789abcdef0123456789abcdef", password: "pw-terminal-1", currency: "EUR", name: "Acme" }],
      customers: [customer],
      ups: { createPurchaseUrl: `http://127.0.0.1:${port}/createPurchase` },
    });
    browser = await launchChromium();
  }, 30_000);

  afterAll(async () => {
    await browser?.close();
    await sandbox?.close();
    await new Promise((resolve) => reseller?.close(resolve));
  });

  it("shows each of the five errorCodes in customer words, from the phone's own scan", async () => {
    const page = await browser.newPage({ viewport: { width: 380, height: 700 } });
    try {
      const url = `${sandbox.appUrl}?msisdn=${customer.msisdn}&pin=${customer.pin}&qr=${encodeURIComponent(qr)}`;
      await page.goto(url);
      const box = page.locator("#scan-problem");
      for (const [code, title, advice] of expected) {
        answer = code;
        await page.getByRole("button", { name: "Scan" }).click();
        await box.locator("strong", { hasText: title }).waitFor({ timeout: 20_000 });
        expect(await box.textContent()).toMatch(advice);
        expect(await box.textContent()).toContain("You have not been charged");
        // The code stays in small print, for a call to support.
        expect(await box.textContent()).toContain(`errorCode ${code}`);
        expect(await page.textContent("#scan-result")).toBe(title);
      }
    } finally {
      await page.close();
    }
  }, 60_000);

  it("shows it too when the scan came from elsewhere (the demo page scans for the phone)", async () => {
    const page = await browser.newPage({ viewport: { width: 380, height: 700 } });
    try {
      await page.goto(`${sandbox.appUrl}?msisdn=${customer.msisdn}&pin=${customer.pin}`);
      answer = "DEVICE_IN_USE";
      await sandbox.app.scan({ msisdn: customer.msisdn, qr });
      await page
        .locator("#scan-problem strong", { hasText: "This machine is in use by another customer" })
        .waitFor({ timeout: 20_000 });
    } finally {
      await page.close();
    }
  }, 60_000);
});
