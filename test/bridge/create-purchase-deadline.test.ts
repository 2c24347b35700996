import { expect, it } from "vitest";
import { bridgeConfigSchema } from "../../config/schema/bridge.ts";
import { minimalTestBridgeConfig } from "../helpers/bridge-test-config.ts";
import { describeEachStore, type Harness } from "./helpers/harness.ts";

/**
 * Issue 15, defect 7: SEQR's UPS waits about 5 s for createPurchase. Past the bridge's own deadline
 * (timeouts.createPurchaseMs) the caller has given up: the answer is an error, the machine's claim is released, and an
 * invoice SEQR created anyway (its sendInvoice answered late) is cancelled as soon as its reference is known.
 */

const body = { token: "M1", amount: 20, currency: "EUR", msisdn: "46701234567" };

async function until(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function expectLateInvoiceCancelled(h: Harness): Promise<void> {
  await until(() => h.seqr.invoices.size === 1, "the late invoice");
  const reference = h.seqr.only().reference;
  await until(async () => {
    await h.drainOutbox();
    return h.seqr.only().status === "CANCELED";
  }, "the late invoice to be cancelled");
  const purchase = await h.purchaseFor(reference);
  expect(purchase.state).toBe("failed");
  const audit = await h.store.listAudit(purchase.sessionId);
  expect(audit.some((entry) => entry.reason === "late-invoice")).toBe(true);
  // Its reference is known and its cancel queued: nothing is left for a person to look into.
  expect(purchase.reconciliation).toBeNull();
}

async function onlyPurchase(h: Harness) {
  const [purchase, ...others] = await h.store.listPurchases({ machineId: "M1" });
  if (!purchase || others.length > 0) throw new Error("expected one purchase of M1");
  return purchase;
}

describeEachStore("createPurchase deadline", (start) => {
  it("a sendInvoice slower than the deadline: INVOICING_ERROR in time, claim released, late invoice cancelled", async () => {
    const h = await start();
    const release = h.seqr.hold("sendInvoice");
    const startedAt = h.clock.now();
    const pending = h.createPurchase(body);
    await until(() => h.seqr.count("sendInvoice") === 1, "sendInvoice to be called");
    await h.clock.advance(h.config.timeouts.createPurchaseMs);
    expect((await pending).json).toEqual({ errorCode: "INVOICING_ERROR" });
    expect(h.clock.now() - startedAt).toBeLessThanOrEqual(h.config.timeouts.createPurchaseMs);
    expect(await h.store.holderOf("M1")).toBeUndefined();
    // SEQR's answer arrives afterwards: the invoice it created is cancelled, nobody can pay it.
    release();
    await expectLateInvoiceCancelled(h);
    expect(h.fleet.commands("payment-pending")).toHaveLength(0);
    // The machine sells again.
    expect((await h.createPurchase(body)).json).toHaveProperty("invoiceReferenceId");
  });

  it("a bridge paused during sendInvoice answers an error when it resumes past the deadline, and cancels the invoice", async () => {
    const h = await start();
    const release = h.seqr.hold("sendInvoice");
    const pending = h.createPurchase(body);
    await until(() => h.seqr.count("sendInvoice") === 1, "sendInvoice to be called");
    // Paused for 8 s; on resume SEQR's answer is handled before any timer fires.
    h.clock.jump(8_000);
    release();
    const answer = (await pending).json;
    expect(["INVOICING_ERROR", "SYSTEM_ERROR"]).toContain(answer.errorCode);
    expect(await h.store.holderOf("M1")).toBeUndefined();
    await expectLateInvoiceCancelled(h);
    expect(h.fleet.commands("payment-pending")).toHaveLength(0);
  });

  it("a bridge that dies before SEQR's late answer leaves the purchase flagged: SEQR may hold an invoice it never named", async () => {
    const h = await start();
    const release = h.seqr.hold("sendInvoice");
    const pending = h.createPurchase(body);
    await until(() => h.seqr.count("sendInvoice") === 1, "sendInvoice to be called");
    await h.clock.advance(h.config.timeouts.createPurchaseMs);
    expect((await pending).json).toEqual({ errorCode: "INVOICING_ERROR" });
    const failed = await onlyPurchase(h);
    expect(failed.state).toBe("failed");
    expect(failed.reconciliation).toBe("invoice-reference-unknown");
    // Killed now: SEQR's answer, when it comes, reaches nobody.
    await h.restart();
    release();
    await until(() => h.seqr.invoices.size === 1, "SEQR to create the invoice");
    await h.quiesce();
    expect(h.seqr.only().status).toBe("ISSUED");
    const after = await onlyPurchase(h);
    expect(after.reconciliation).toBe("invoice-reference-unknown");
    expect(after.invoiceReference).toBeNull();
    // The flag is the operator's lead: it names SEQR's clientInvoiceId to look for.
    const audit = await h.store.listAudit(after.sessionId);
    expect(audit.find((entry) => entry.reason === "reconcile:invoice-reference-unknown")?.detail).toMatchObject({
      clientInvoiceId: after.sessionId,
    });
  });

  it("a bridge killed inside sendInvoice: after the restart the stale claim is released and flagged", async () => {
    const h = await start();
    const release = h.seqr.hold("sendInvoice");
    // The process dies with UPS's request in it: its connection goes with it.
    const connection = new AbortController();
    void fetch(`${h.baseUrl}/createPurchase`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      signal: connection.signal,
    }).catch(() => undefined);
    await until(() => h.seqr.count("sendInvoice") === 1, "sendInvoice to be called");
    connection.abort();
    await h.restart();
    release();
    // seqrCallTimeoutMs (5 s) * 2 + 5 s after the claim.
    await h.clock.advance(15_000);
    await h.quiesce();
    const released = await onlyPurchase(h);
    expect(released.state).toBe("failed");
    expect(released.reconciliation).toBe("invoice-reference-unknown");
    expect((await h.createPurchase(body)).json).toHaveProperty("invoiceReferenceId");
  });

  it("an answer lost after SEQR acted is flagged; a refusal SEQR answered, or a connection refused, is not", async () => {
    const h = await start();
    h.seqr.fail("sendInvoice", "timeout", { when: "after" });
    expect((await h.createPurchase(body)).json).toEqual({ errorCode: "INVOICING_ERROR" });
    expect(h.seqr.invoices.size).toBe(1);
    const [lost] = await h.store.listPurchases({ machineId: "M1" });
    expect(lost?.reconciliation).toBe("invoice-reference-unknown");

    h.seqr.fail("sendInvoice", 49);
    expect((await h.createPurchase(body)).json).toEqual({ errorCode: "INVOICING_ERROR" });
    h.seqr.fail("sendInvoice", "transport");
    expect((await h.createPurchase(body)).json).toEqual({ errorCode: "INVOICING_ERROR" });
    const purchases = await h.store.listPurchases({ machineId: "M1" });
    expect(purchases).toHaveLength(3);
    expect(purchases.filter((purchase) => purchase.reconciliation !== null)).toEqual([
      expect.objectContaining({ sessionId: lost?.sessionId }),
    ]);
  });
});

it("the default createPurchase deadline is below SEQR's 5 s", () => {
  const config = bridgeConfigSchema.parse(minimalTestBridgeConfig());
  expect(config.timeouts.createPurchaseMs).toBeLessThan(5_000);
  expect(config.timeouts.createPurchaseMs).toBeGreaterThan(1_000);
});
