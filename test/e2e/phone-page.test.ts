import { describe, expect, it } from "vitest";
import { hasTool } from "../helpers/system-tools.ts";
import { useChromiumKit } from "../seqr/chromium-kit.ts";
import { customer, reservationInvoice } from "../seqr/seqr-test-kit.ts";

/** The sandbox phone's page as the demo shows it (issue 21 item 11): messages that stay, totals that tell the truth. */

describe.runIf(hasTool("chromium"))("the sandbox phone page in Chromium", () => {
  const env = useChromiumKit();

  it("the wrong-PIN message stays while the page refreshes its list", async () => {
    const { invoiceReference } = await env.kit.client.sendInvoice(reservationInvoice());
    env.kit.sandbox.ledger.attachCustomer(invoiceReference, customer.msisdn);
    const page = await env.browser.newPage();
    try {
      let refreshes = 0;
      page.on("response", (response) => {
        if (response.url().includes(`/customers/${customer.msisdn}/invoices`)) refreshes++;
      });
      await page.goto(`${env.kit.sandbox.appUrl}?msisdn=${customer.msisdn}&pin=9999`);
      await page.getByRole("button", { name: "Confirm with PIN" }).click();
      await page.locator("#error").getByText("wrong PIN").waitFor();
      // Positive evidence that the list was refreshed (once a second) several times since the message came.
      const seen = refreshes;
      await expect.poll(() => refreshes, { timeout: 20_000 }).toBeGreaterThanOrEqual(seen + 3);
      expect(await page.textContent("#error")).toBe("wrong PIN");
    } finally {
      await page.close();
    }
  });

  it("a declined payment reads Nothing charged, not the total it asked for; the scan field's example is set by the URL", async () => {
    const { invoiceReference } = await env.kit.client.sendInvoice(reservationInvoice());
    env.kit.sandbox.ledger.attachCustomer(invoiceReference, customer.msisdn);
    const example = "HTTP://SEQR.SE/000/ups?w=demo&t=DEMO-MDB";
    const page = await env.browser.newPage();
    try {
      await page.goto(
        `${env.kit.sandbox.appUrl}?msisdn=${customer.msisdn}&pin=${customer.pin}&qrExample=${encodeURIComponent(example)}`,
      );
      expect(await page.getAttribute("#qr", "placeholder")).toBe(example);
      const card = page.locator(`.card[data-ref="${invoiceReference}"]`);
      await card.getByText("20.00 EUR").waitFor();
      await card.getByRole("button", { name: "Decline" }).click();
      await card.locator(".status.CANCELED").waitFor();
      await card.getByText("Nothing charged").waitFor();
      expect(await card.textContent()).not.toContain("20.00");
    } finally {
      await page.close();
    }
  });
});
