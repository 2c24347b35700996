import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseCreatePurchase } from "../../backend-bridge/http/create-purchase-request.ts";
import { firstDuplicateKey } from "../../platform/json-duplicate-keys.ts";
import { harnessPerTest } from "./helpers/harness.ts";

/**
 * Issue 18, "bad input everywhere gets a clear answer and changes nothing": property tests for the createPurchase body
 * (BOM, duplicate keys, two spellings of one field disagreeing, any JSON, any bytes) and the notification endpoint.
 */

const errorCodes = ["SYSTEM_ERROR", "DEVICE_UNAVAILABLE", "DEVICE_IN_USE", "INSUFFICIENT_FUNDS", "INVOICING_ERROR"];
const validBody = { token: "M1", amount: 20, currency: "EUR", msisdn: "46701234567" };

/** Bodies a caller (or an attacker) might send: mostly wrong, a few right, every shape the edge must survive. */
const createPurchaseText = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)),
  fc
    .record(
      {
        token: fc.oneof(fc.constantFrom("M1", "M2", "M9", "", "M1/../M2", "M1\u0000"), fc.string({ maxLength: 40 })),
        reservationToken: fc.constantFrom("M1", "M2", "bad token"),
        purchaseToken: fc.constantFrom("M1", "M2"),
        amount: fc.oneof(fc.double(), fc.constantFrom(20, "20.00", "1e309", "-5", "0.001", "NaN")),
        reservationAmount: fc.constantFrom("20.00", "5.00", 20),
        currency: fc.constantFrom("EUR", "SEK", "eur", "EURO", ""),
        msisdn: fc.oneof(fc.string({ maxLength: 20 }), fc.integer()),
      },
      { requiredKeys: [] },
    )
    .map((body) => JSON.stringify(body)),
  // A byte order mark in front, or a key written twice (JSON.parse would silently keep the second).
  fc.jsonValue({ maxDepth: 2 }).map((value) => `\uFEFF${JSON.stringify(value)}`),
  fc
    .constantFrom("token", "amount", "currency", "reservationToken")
    .map((key) => `{${JSON.stringify(key)}:"M1",${JSON.stringify(key)}:"M2","amount":20,"currency":"EUR"}`),
);

describe("createPurchase body (pure)", () => {
  it("never throws, and refuses two spellings of the token or the amount that disagree", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 3 }), (json) => {
        const parsed = parseCreatePurchase(json);
        if (parsed.ok) expect(parsed.request.token).toMatch(/^[A-Za-z0-9._-]{1,32}$/);
        else expect(parsed.error).toMatch(/^[\w().]+: /);
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.constantFrom("M1", "M2"), fc.constantFrom("M1", "M2"), (token, reservationToken) => {
        const parsed = parseCreatePurchase({ token, reservationToken, amount: 20, currency: "EUR" });
        expect(parsed.ok).toBe(token === reservationToken);
      }),
    );
    expect(parseCreatePurchase({ token: "M1", amount: 20, reservationAmount: "5.00", currency: "EUR" })).toEqual({
      ok: false,
      error: "amount: amount and reservationAmount differ",
    });
  });

  it("finds a key written twice at any depth, and none in what JSON.stringify writes", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
        expect(firstDuplicateKey(JSON.stringify(value))).toBeUndefined();
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { minKeys: 1, maxKeys: 5 }),
        fc.string({ maxLength: 8 }),
        fc.nat(3),
        (object, key, depth) => {
          // `key` twice in an object nested `depth` levels deep, among the other keys.
          let text = `{${JSON.stringify(key)}:1,${JSON.stringify(object).slice(1, -1)}${Object.keys(object).length > 0 ? "," : ""}${JSON.stringify(key)}:2}`;
          for (let level = 0; level < depth; level++) text = `{"level${level}":[${text}]}`;
          expect(firstDuplicateKey(text)).toBe(key);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("createPurchase and notification over HTTP", () => {
  const start = harnessPerTest("sqlite");

  it("any body gets HTTP 200 with an invoice or an errorCode; only a valid claim invoices", async () => {
    const h = await start();
    let invoiced = 0;
    await fc.assert(
      fc.asyncProperty(createPurchaseText, async (text) => {
        const before = await h.store.listPurchases({ limit: 1_000 });
        const answer = await h.createPurchase(text);
        expect(answer.status).toBe(200);
        const keys = Object.keys(answer.json);
        expect(keys).toHaveLength(1);
        if (keys[0] === "invoiceReferenceId") {
          invoiced++;
          return;
        }
        expect(errorCodes).toContain(answer.json.errorCode);
        // A refusal changes nothing: no purchase stored, no invoice asked of SEQR.
        expect(await h.store.listPurchases({ limit: 1_000 })).toHaveLength(before.length);
        expect(h.seqr.count("sendInvoice")).toBe(invoiced);
      }),
      { numRuns: 150 },
    );
    expect(h.seqr.count("sendInvoice")).toBe(invoiced);
  }, 120_000);

  it("a BOM before a valid body is ignored; a duplicate key or disagreeing spellings are refused before any claim", async () => {
    const h = await start();
    const refused = [
      '{"token":"M1","token":"M2","amount":20,"currency":"EUR"}',
      JSON.stringify({ ...validBody, reservationToken: "M2" }),
      JSON.stringify({ ...validBody, reservationAmount: "1.00" }),
    ];
    for (const text of refused) {
      expect((await h.createPurchase(text)).json).toEqual({ errorCode: "SYSTEM_ERROR" });
    }
    expect(await h.store.holderOf("M1")).toBeUndefined();
    expect(h.seqr.calls).toHaveLength(0);
    const withBom = await h.createPurchase(`\uFEFF${JSON.stringify(validBody)}`);
    expect(withBom.json).toEqual({ invoiceReferenceId: expect.stringMatching(/^\d+$/) });
  });

  it("the notification endpoint answers every path, method and body at once and checks nothing it does not know", async () => {
    const h = await start();
    const reference = await h.purchase();
    const callsBefore = h.seqr.calls.length;
    const purchaseBefore = await h.purchaseFor(reference);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.string({ maxLength: 80 }), fc.stringMatching(/^[A-Za-z0-9_-]{20,64}$/)),
        fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH"),
        fc.oneof(fc.constant(undefined), fc.string({ maxLength: 300 })),
        async (secret, method, body) => {
          const response = await fetch(`${h.app.http.url}/seqr/notify/${encodeURIComponent(secret)}`, {
            method,
            ...(body !== undefined && method !== "GET" ? { body } : {}),
          });
          await response.arrayBuffer();
          expect([200, 404, 405]).toContain(response.status);
        },
      ),
      { numRuns: 150 },
    );
    await h.quiesce();
    // No SEQR call for a secret nobody was given, and the real purchase untouched.
    expect(h.seqr.calls.length).toBe(callsBefore);
    expect(await h.purchaseFor(reference)).toEqual(purchaseBefore);
  }, 120_000);
});
