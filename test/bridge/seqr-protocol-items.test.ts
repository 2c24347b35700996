import { expect, it } from "vitest";
import { describeEachStore, sessionEndedEvent, vendedEvent } from "./helpers/harness.ts";

/**
 * Issue 15, SEQR protocol items (seqr-protocol.md §6, §7, §12.9, §12.14): getPaymentStatus echoes the last version,
 * every invoice carries a footer and sendInvoice's issueDate, an updateInvoice identical to the one before is not
 * sent, a commit is followed by getPaymentStatus for PAID whose ersReference is kept; the customer's msisdn is
 * optional; a currency the machine does not sell in is answered SYSTEM_ERROR.
 */

describeEachStore("SEQR protocol details", (start) => {
  it("getPaymentStatus echoes the last version SEQR answered, also in the outbox's status checks", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    const reservedVersion = h.seqr.only().version;
    expect(reservedVersion).toBeGreaterThan(0);
    // The commit goes through but its answer is lost: the next attempt asks getPaymentStatus first.
    h.seqr.fail("commitReservation", "timeout", { when: "after" });
    await h.vendAndEnd(sessionId, [150]);
    await h.drainOutbox();
    await h.clock.advance(1_000);
    await h.drainOutbox();
    await h.waitForState(reference, "committed");
    const statusCalls = h.seqr.calls.filter((call) => call.operation === "getPaymentStatus");
    expect(statusCalls[0]?.version).toBe(0);
    expect(statusCalls.length).toBeGreaterThan(1);
    for (const call of statusCalls.slice(1)) expect(call.version).toBeGreaterThanOrEqual(reservedVersion);
  });

  it("after the commit, getPaymentStatus confirms PAID and the ersReference is kept", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    await h.vendAndEnd(sessionId, [150]);
    await h.drainOutbox();
    const done = await h.waitForState(reference, "committed");
    // The customer's receipt follows the commit, with the payment reference the status call gave.
    const [beforeReceipt, receipt] = h.seqr.calls.slice(-2);
    expect(beforeReceipt).toMatchObject({ operation: "getPaymentStatus", reference });
    expect(receipt).toMatchObject({ operation: "submitPaymentReceipt", reference: `ers${reference}` });
    expect(done.ersReference).toBe(`ers${reference}`);
  });

  it("sendInvoice and updateInvoice carry a footer and sendInvoice's issueDate", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    await h.clock.advance(7_000);
    await h.vendAndEnd(sessionId, [150]);
    await h.drainOutbox();
    await h.waitForState(reference, "committed");
    const invoice = h.seqr.only();
    expect(invoice.invoice.footer).toEqual(expect.any(String));
    expect(invoice.invoice.footer?.length).toBeGreaterThan(0);
    expect(invoice.invoice.issueDate).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/);
    expect(invoice.updates.length).toBeGreaterThan(0);
    for (const update of invoice.updates) {
      expect(update.footer).toBe(invoice.invoice.footer);
      expect(update.issueDate).toBe(invoice.invoice.issueDate);
    }
  });

  it("two vends give two updateInvoice calls: the final one, identical to the one before, is not sent", async () => {
    const h = await start();
    const { reference, sessionId } = await h.reservedPurchase();
    await h.fleet.emit("M1", "unlocked", { sessionId, commandId: "x", budgetMinor: 2000, currency: "EUR" });
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v1", 150));
    await h.drainOutbox();
    await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v2", 200));
    await h.drainOutbox();
    expect(h.seqr.count("updateInvoice")).toBe(2);
    await h.fleet.emit("M1", "session-ended", sessionEndedEvent(sessionId, 2, 350));
    await h.drainOutbox();
    await h.waitForState(reference, "committed");
    expect(h.seqr.count("updateInvoice")).toBe(2);
    expect(h.seqr.only().updates.at(-1)?.total.minor).toBe(350);
    expect(h.seqr.only().committed?.minor).toBe(350);
  });

  it("a missing or malformed msisdn never refuses a purchase; a well-formed one is kept masked after the session", async () => {
    const h = await start();
    for (const msisdn of [undefined, null, "call me", "+46 70-123 45 67", 4.67e21, { phone: 1 }]) {
      const { json } = await h.createPurchase({ token: "M1", amount: 20, currency: "EUR", msisdn });
      expect(json, String(msisdn)).toHaveProperty("invoiceReferenceId");
      const reference = json.invoiceReferenceId as string;
      const purchase = await h.purchaseFor(reference);
      if (msisdn === "+46 70-123 45 67") expect(purchase.msisdn).toBe("46701234567");
      else expect(purchase.msisdn).toBeNull();
      h.seqr.cancelByCustomer(reference);
      await h.notify(reference);
      const closed = await h.waitForState(reference, "cancelled");
      if (msisdn === "+46 70-123 45 67") expect(closed.msisdn).toBe("*********67");
    }
  });

  it("a currency the machine does not sell in is answered SYSTEM_ERROR, nothing invoiced", async () => {
    const h = await start();
    const body = { token: "M1", amount: 20, msisdn: "46701234567" };
    expect((await h.createPurchase({ ...body, currency: "SEK" })).json).toEqual({ errorCode: "SYSTEM_ERROR" });
    expect((await h.createPurchase({ ...body, currency: "XXX" })).json).toEqual({ errorCode: "SYSTEM_ERROR" });
    expect(h.seqr.count("sendInvoice")).toBe(0);
    expect(await h.store.listPurchases()).toHaveLength(0);
  });
});
