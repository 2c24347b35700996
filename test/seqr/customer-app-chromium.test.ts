import { describe, expect, it } from "vitest";
import { hasTool } from "../helpers/system-tools.ts";
import { useChromiumKit } from "./chromium-kit.ts";
import { customer, reservationInvoice } from "./seqr-test-kit.ts";

/** The customer's app page in a real browser: a person confirms with the PIN and sees the rows change. */

describe.runIf(hasTool("chromium"))("customer app page in Chromium", () => {
  const env = useChromiumKit();

  it("lists the invoice, confirms it with the PIN, then shows the rows the reseller sends", async () => {
    const { invoiceReference } = await env.kit.client.sendInvoice(reservationInvoice());
    env.kit.sandbox.ledger.attachCustomer(invoiceReference, customer.msisdn);
    const page = await env.browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));
    await page.goto(`${env.kit.sandbox.appUrl}?msisdn=${customer.msisdn}&pin=${customer.pin}`);
    const card = page.locator(`.card[data-ref="${invoiceReference}"]`);
    await card.getByText("20.00 EUR").waitFor();
    await card.getByRole("button", { name: "Confirm with PIN" }).click();
    await card.locator(".status.RESERVED").waitFor();
    expect(env.kit.sandbox.ledger.get(invoiceReference)?.status).toBe("RESERVED");

    await env.kit.client.getPaymentStatus(invoiceReference, 0);
    await env.kit.client.updateInvoice(invoiceReference, {
      ...reservationInvoice(),
      rows: [{ description: "Cola 0.33 l", quantity: 1, total: { minor: 200, currency: "EUR" } }],
      total: { minor: 200, currency: "EUR" },
    });
    await card.getByText("Cola 0.33 l").waitFor();
    await card.getByText("2.00 EUR").waitFor();
    expect(errors).toEqual([]);
    await page.close();
  });

  it("says so when the PIN is wrong, and the invoice stays ISSUED", async () => {
    const { invoiceReference } = await env.kit.client.sendInvoice(reservationInvoice());
    env.kit.sandbox.ledger.attachCustomer(invoiceReference, customer.msisdn);
    const page = await env.browser.newPage();
    await page.goto(`${env.kit.sandbox.appUrl}?msisdn=${customer.msisdn}&pin=9999`);
    await page.getByRole("button", { name: "Confirm with PIN" }).click();
    await page.locator("#error").getByText("wrong PIN").waitFor();
    expect(env.kit.sandbox.ledger.get(invoiceReference)?.status).toBe("ISSUED");
    await page.close();
  });
});
