import { Agent, request } from "node:http";
import { describe, expect, it } from "vitest";
import { harnessPerTest } from "./helpers/harness.ts";

/**
 * Issue 18, "rate limits that protect the right party": the createPurchase limit is keyed on the authenticated caller
 * and the source address, never only on the machine token a caller chooses. A flood from one address (loopback
 * 127.0.0.2, the attacker) must not make the real caller's purchase (127.0.0.1) fail.
 */

const productDefaults = { http: { rateLimitPerTokenPerMinute: 30, rateLimitPerCallerPerMinute: 600 } };
const ups = { username: "seqr-ups", password: "correct-horse-battery" };
const upsAuthorization = `Basic ${Buffer.from(`${ups.username}:${ups.password}`).toString("base64")}`;

interface Answer {
  status: number;
  json: Record<string, unknown>;
}

/** `count` createPurchase POSTs from `localAddress`, `parallel` at a time over keep-alive sockets. */
async function flood(
  url: string,
  localAddress: string,
  count: number,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
  parallel = 50,
): Promise<Map<string, number>> {
  const agent = new Agent({ keepAlive: true, maxSockets: parallel, localAddress });
  const outcomes = new Map<string, number>();
  let sent = 0;
  const one = (): Promise<Answer> =>
    new Promise((resolve, reject) => {
      const call = request(
        url,
        { method: "POST", agent, headers: { "content-type": "application/json", ...headers } },
        (response) => {
          let text = "";
          response.on("data", (chunk) => {
            text += chunk;
          });
          response.on("end", () => resolve({ status: response.statusCode ?? 0, json: JSON.parse(text) }));
        },
      );
      call.on("error", reject);
      call.end(JSON.stringify(body));
    });
  const worker = async () => {
    while (sent < count) {
      sent++;
      const answer = await one();
      const key = `${answer.status} ${String(answer.json.errorCode ?? "OK")}`;
      outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
    }
  };
  try {
    await Promise.all(Array.from({ length: parallel }, worker));
  } finally {
    agent.destroy();
  }
  return outcomes;
}

const purchaseBody = (fields: Record<string, unknown> = {}) => ({
  token: "M1",
  amount: 20,
  currency: "EUR",
  msisdn: "46701234567",
  ...fields,
});

describe("createPurchase rate limits", () => {
  const start = harnessPerTest("sqlite");

  it("2,000 unauthenticated requests for M1 from another address: the authenticated caller still buys on M1", async () => {
    const h = await start({ ...productDefaults, callerAuth: { mode: "basic", ...ups } });
    const outcomes = await flood(`${h.app.http.url}/seqr/createPurchase`, "127.0.0.2", 2_000, purchaseBody());
    expect(outcomes).toEqual(new Map([["401 SYSTEM_ERROR", 2_000]]));
    const answer = await h.createPurchase(purchaseBody(), { Authorization: upsAuthorization });
    expect(answer.json).toEqual({ invoiceReferenceId: expect.stringMatching(/^\d+$/) });
    expect(h.seqr.count("sendInvoice")).toBe(1);
  }, 120_000);

  it("keyed on the source address, not the token: 2,000 requests for M1 from 127.0.0.2 leave 127.0.0.1's bucket full", async () => {
    // Even with caller auth off, a flood for one machine's token (here too small an amount to claim it) only drains
    // the flooding address's budget; before, it drained M1's and the real UPS call for M1 got SYSTEM_ERROR.
    const h = await start({ ...productDefaults, callerAuth: { mode: "none" } });
    const outcomes = await flood(
      `${h.app.http.url}/seqr/createPurchase`,
      "127.0.0.2",
      2_000,
      purchaseBody({ amount: 0.01 }),
    );
    expect(outcomes.get("200 SYSTEM_ERROR")).toBeGreaterThan(1_000);
    const answer = await h.createPurchase(purchaseBody());
    expect(answer.json).toEqual({ invoiceReferenceId: expect.stringMatching(/^\d+$/) });
    expect(h.seqr.count("sendInvoice")).toBe(1);
  }, 120_000);

  it("a claim the same caller repeats is answered DEVICE_IN_USE without a new invoice, also past the per-machine limit", async () => {
    const h = await start({ http: { rateLimitPerTokenPerMinute: 3 }, callerAuth: { mode: "basic", ...ups } });
    const codes: string[] = [];
    for (let i = 0; i < 6; i++) {
      const answer = await h.createPurchase(purchaseBody(), { Authorization: upsAuthorization });
      codes.push((answer.json.errorCode as string | undefined) ?? "OK");
    }
    expect(codes).toEqual(["OK", "DEVICE_IN_USE", "DEVICE_IN_USE", "DEVICE_IN_USE", "DEVICE_IN_USE", "DEVICE_IN_USE"]);
    expect(h.seqr.count("sendInvoice")).toBe(1);
    // Another machine is another bucket of the same caller.
    const other = await h.createPurchase(purchaseBody({ token: "M2", currency: "SEK" }), {
      Authorization: upsAuthorization,
    });
    expect(other.json).toHaveProperty("invoiceReferenceId");
  });
});
