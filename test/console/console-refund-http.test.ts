import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Harness } from "../bridge/helpers/harness.ts";
import { storeKinds } from "../bridge/helpers/test-stores.ts";
import { addOperator, ConsoleClient, flaggedPurchase } from "./console-client.ts";

/**
 * The console's refund form over HTTP, on both stores: a purchase flagged by a real flow through the bridge (one
 * vend of 1.50 EUR committed, one of unknown outcome) is refunded in part through the same refundPurchase as the CLI,
 * against the harness's SEQR. Bad amounts and forged requests change nothing; a second click sends nothing twice.
 */
describe.each(storeKinds)("the console's refund on %s", (kind) => {
  let h: Harness;

  beforeAll(async () => {
    h = await Harness.start(kind);
    await addOperator(h.store);
  }, 120_000);

  afterAll(async () => {
    await h?.close();
  });

  async function loggedIn(): Promise<ConsoleClient> {
    const client = new ConsoleClient(h.app.admin.url);
    await client.login();
    return client;
  }

  /** The refund form's fields as the purchase's page renders them. */
  async function refundForm(client: ConsoleClient, sessionId: string) {
    const page = await (await client.get(`/console/purchases/${sessionId}`)).text();
    const form = /<form[^>]*id="refund-form"[^>]*>([\s\S]*?)<\/form>/.exec(page)?.[0];
    if (form === undefined) throw new Error(`no refund form on the page of ${sessionId}:\n${page}`);
    const field = (name: string) => new RegExp(`name="${name}"[^>]*value="([^"]*)"`).exec(form)?.[1];
    return { page, form, csrf: field("csrf") ?? "", refundId: field("refundId") ?? "", amount: field("amount") };
  }

  /** What a refund may change: the refunds, the purchase's audit log and SEQR's refund calls. */
  async function snapshot(sessionId: string) {
    return {
      refunds: await h.store.listRefunds(sessionId),
      audit: (await h.store.listAudit(sessionId)).length,
      seqrRefunds: h.seqr.count("refundPayment"),
    };
  }

  it("shows what was billed and refunded, and offers the whole committed amount by default", async () => {
    const sessionId = await flaggedPurchase(h);
    const { page, form, refundId, amount } = await refundForm(await loggedIn(), sessionId);
    expect(form).toContain(`action="/console/purchases/${sessionId}/refund"`);
    expect(amount).toBe("1.50");
    expect(refundId).toMatch(/^R-[0-9a-f]{16}$/);
    expect(page).toMatch(/Billed<\/th><td>1\.50 EUR/);
    expect(page).toMatch(/Refunded<\/th><td>0\.00 EUR/);
    expect(page).not.toContain("refund-placeholder");
  });

  it("refuses a refund without a session (401) and a cross-site POST (403), changing nothing", async () => {
    const sessionId = await flaggedPurchase(h);
    const client = await loggedIn();
    const { csrf, refundId } = await refundForm(client, sessionId);
    const before = await snapshot(sessionId);
    const path = `/console/purchases/${sessionId}/refund`;
    const fields = { csrf, refundId, amount: "0.50" };
    expect((await new ConsoleClient(h.app.admin.url).post(path, fields)).status).toBe(401);
    expect((await client.post(path, fields, { origin: "http://evil.example" })).status).toBe(403);
    expect((await client.post(path, { ...fields, csrf: "forged" })).status).toBe(403);
    expect((await client.post(path, fields, { origin: h.app.admin.url, "sec-fetch-site": "cross-site" })).status).toBe(
      403,
    );
    expect(await snapshot(sessionId)).toEqual(before);
  });

  it("answers a bad amount on the page with what is wrong, and changes nothing", async () => {
    const sessionId = await flaggedPurchase(h);
    const client = await loggedIn();
    const { csrf, refundId } = await refundForm(client, sessionId);
    const before = await snapshot(sessionId);
    const cases: Array<[string, RegExp]> = [
      ["0", /above 0/],
      ["0.00", /above 0/],
      ["-0.50", /not an amount such as 1\.50/],
      ["1.51", /more than is left to refund \(1\.50 EUR\)/],
      ["0.505", /more than 2 decimals for EUR/],
      ["fifty cents", /not an amount such as 1\.50/],
      ["", /not an amount such as 1\.50/],
      ["1e2", /not an amount such as 1\.50/],
    ];
    for (const [amount, message] of cases) {
      const response = await client.post(`/console/purchases/${sessionId}/refund`, { csrf, refundId, amount });
      expect(response.status, amount).toBe(400);
      const page = await response.text();
      expect(/<p[^>]*id="refund-outcome"[^>]*>([\s\S]*?)<\/p>/.exec(page)?.[1], amount).toMatch(message);
      expect(page, "the form is offered again with the amount typed").toContain(`id="refund-form"`);
    }
    const forgedId = await client.post(`/console/purchases/${sessionId}/refund`, {
      csrf,
      refundId: "not an id",
      amount: "0.50",
    });
    expect(forgedId.status).toBe(400);
    expect(await snapshot(sessionId)).toEqual(before);
  });

  it("refunds part of a flagged purchase against SEQR, in the audit log with the operator's name", async () => {
    const sessionId = await flaggedPurchase(h);
    const client = await loggedIn();
    const { csrf, refundId } = await refundForm(client, sessionId);
    const response = await client.post(`/console/purchases/${sessionId}/refund`, {
      csrf,
      refundId,
      amount: "0.50",
      note: "cola stuck in the spiral",
    });
    expect(response.status).toBe(200);
    const page = await response.text();
    expect(page).toMatch(/id="refund-outcome"[^>]*>Refunded 0\.50 EUR to the customer/);
    const [refund, ...more] = await h.store.listRefunds(sessionId);
    expect(more).toEqual([]);
    expect(refund).toMatchObject({
      refundId,
      amountMinor: 50,
      currency: "EUR",
      status: "refunded",
      actor: "ops",
      note: "cola stuck in the spiral",
    });
    const audit = (await h.store.listAudit(sessionId)).filter((entry) => entry.reason.startsWith("refund-"));
    expect(audit.map((entry) => [entry.reason, entry.detail?.actor, entry.detail?.amountMinor])).toEqual([
      ["refund-requested", "ops", 50],
      ["refund-refunded", "ops", 50],
    ]);
    expect(h.seqr.refunds.map((sent) => sent.invoice.total)).toEqual([{ minor: 50, currency: "EUR" }]);
    const after = await refundForm(client, sessionId);
    expect(after.page).toMatch(/Refunded<\/th><td>0\.50 EUR/);
    expect(after.amount).toBe("1.00");
    expect(after.refundId).not.toBe(refundId);
    expect(after.page).toMatch(/<tr class="audit"><td>[^<]+<\/td><td>refund-refunded/);
  });

  it("refunds once when the form is sent twice (a double click, a reload of the answer)", async () => {
    const sessionId = await flaggedPurchase(h);
    const client = await loggedIn();
    const { csrf, refundId } = await refundForm(client, sessionId);
    const fields = { csrf, refundId, amount: "0.30" };
    const path = `/console/purchases/${sessionId}/refund`;
    const calls = h.seqr.count("refundPayment");
    const both = await Promise.all([client.post(path, fields), client.post(path, fields)]);
    const again = await client.post(path, fields);
    expect([...both, again].map((response) => response.status)).toEqual([200, 200, 200]);
    expect(await again.text()).toMatch(/already sent[^<]*nothing was sent again/i);
    expect(h.seqr.count("refundPayment") - calls).toBe(1);
    expect((await h.store.listRefunds(sessionId)).map((refund) => refund.amountMinor)).toEqual([30]);
  });

  it("says in words what SEQR's 97, 98 and 99 mean, and when SEQR's answer never came", async () => {
    const sessionId = await flaggedPurchase(h);
    const client = await loggedIn();
    const path = `/console/purchases/${sessionId}/refund`;
    const expected: Array<[number, RegExp]> = [
      [97, /97: this reseller account may not refund through the API/],
      [98, /98: the refunds of this payment would exceed what was paid/],
      [99, /99: the merchant account that received the payment does not allow refunds/],
    ];
    for (const [code, words] of expected) {
      h.seqr.fail("refundPayment", code);
      const { csrf, refundId } = await refundForm(client, sessionId);
      const page = await (await client.post(path, { csrf, refundId, amount: "0.20" })).text();
      expect(page).toMatch(/id="refund-outcome"[^>]*>SEQR refused the refund of 0\.20 EUR/);
      expect(page).toMatch(words);
    }
    h.seqr.fail("refundPayment", "timeout", { when: "after" });
    const { csrf, refundId } = await refundForm(client, sessionId);
    const page = await (await client.post(path, { csrf, refundId, amount: "0.20" })).text();
    expect(page).toMatch(/id="refund-outcome"[^>]*>No answer from SEQR: the refund of 0\.20 EUR may have gone through/);
    expect(page).toContain("refund-outcome-unknown");
    const statuses = (await h.store.listRefunds(sessionId)).map((refund) => `${refund.status} ${refund.resultCode}`);
    expect(statuses.sort()).toEqual(["failed 97", "failed 98", "failed 99", "unknown null"]);
  });
});
