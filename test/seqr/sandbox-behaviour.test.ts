import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startSeqrSandbox } from "../../backend-bridge/sandbox/seqr-sandbox.ts";
import { decodeSeqrResponse } from "../../backend-bridge/seqr/response-decoder.ts";
import { SeqrFaultError } from "../../backend-bridge/seqr/seqr-errors.ts";
import { seqrNamespace, soapEnvelopeNamespace } from "../../backend-bridge/seqr/soap-envelope.ts";
import {
  customer,
  type Kit,
  type RawServer,
  reservationInvoice,
  startKit,
  startRawServer,
  terminal,
} from "./seqr-test-kit.ts";

/** The sandbox as SEQR: SOAP faults, lenient reading, notifications, the customer's app, the UPS caller, faults. */

let kit: Kit;
const servers: RawServer[] = [];
beforeEach(async () => {
  kit = await startKit();
});
afterEach(async () => {
  await kit.close();
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function postSoap(body: string): Promise<{ status: number; text: string }> {
  const response = await fetch(kit.sandbox.soapUrl, {
    method: "POST",
    headers: { "content-type": "text/xml; charset=UTF-8", soapaction: '""' },
    body,
  });
  return { status: response.status, text: await response.text() };
}

const context = (password = terminal.password, id = terminal.id, type = "TERMINALID") =>
  `<context><channel>WS</channel><clientId>raw</clientId><clientReference>r1</clientReference><clientRequestTimeout>0</clientRequestTimeout><initiatorPrincipalId><id>${id}</id><type>${type}</type></initiatorPrincipalId><password>${password}</password></context>`;
const envelope = (inner: string) =>
  `<soapenv:Envelope xmlns:soapenv="${soapEnvelopeNamespace}"><soapenv:Body>${inner}</soapenv:Body></soapenv:Envelope>`;

async function appApi(
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: Record<string, never> }> {
  const response = await fetch(`${kit.sandbox.url}/app/api/${path}`, {
    method,
    ...(body === undefined ? {} : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
  });
  return { status: response.status, json: (await response.json()) as Record<string, never> };
}

describe("SOAP faults as CXF gives them", () => {
  const cases: Array<[string, string]> = [
    ["malformed XML", "<soapenv:Envelope><oops"],
    ["not SOAP at all", '{"hello":1}'],
    [
      "an unknown operation",
      envelope(`<ext:transferMoney xmlns:ext="${seqrNamespace}">${context()}</ext:transferMoney>`),
    ],
    [
      "the wrong namespace",
      envelope(`<ext:getPaymentStatus xmlns:ext="urn:other">${context()}</ext:getPaymentStatus>`),
    ],
    [
      "a request without context",
      envelope(
        `<ext:cancelInvoice xmlns:ext="${seqrNamespace}"><invoiceReference>1</invoiceReference></ext:cancelInvoice>`,
      ),
    ],
    [
      "a non-numeric invoiceVersion",
      envelope(
        `<ext:getPaymentStatus xmlns:ext="${seqrNamespace}">${context()}<invoiceReference>1</invoiceReference><invoiceVersion>one</invoiceVersion></ext:getPaymentStatus>`,
      ),
    ],
    ["a DOCTYPE", `<!DOCTYPE x [<!ENTITY a "b">]>${envelope("")}`],
  ];
  for (const [label, body] of cases) {
    it(`${label} -> soap:Client Fault, HTTP 500, read by the client as SeqrFaultError`, async () => {
      const { status, text } = await postSoap(body);
      expect(status).toBe(500);
      const error = (() => {
        try {
          decodeSeqrResponse("getPaymentStatus", text, { httpStatus: status, maxChars: 1e5 });
        } catch (failure) {
          return failure;
        }
      })();
      expect(error).toBeInstanceOf(SeqrFaultError);
      expect((error as SeqrFaultError).faultCode).toBe("Client");
    });
  }

  it("GET on the SOAP endpoint -> 405", async () => {
    expect((await fetch(kit.sandbox.soapUrl)).status).toBe(405);
  });
});

describe("requests are read as SEQR's JAXB reads them", () => {
  it("accepts children in any order (as the API doc's own examples are)", async () => {
    const invoice = `<invoice><totalAmount><value>5.00</value><currency>EUR</currency></totalAmount><title>Out of order</title><cashierId>M1</cashierId><clientInvoiceId>X-1</clientInvoiceId><acknowledgmentMode>NO_ACKNOWLEDGMENT</acknowledgmentMode><paymentMode>RESERVATION_REQUIRED</paymentMode></invoice>`;
    const { status, text } = await postSoap(
      envelope(`<e:sendInvoice xmlns:e="${seqrNamespace}">${invoice}${context()}</e:sendInvoice>`),
    );
    expect(status).toBe(200);
    const reference = decodeSeqrResponse("sendInvoice", text, { httpStatus: 200, maxChars: 1e5 }).invoiceReference;
    expect(kit.sandbox.ledger.get(reference)?.total).toEqual({ minor: 500, currency: "EUR" });
  });

  it("49 when totalAmount is not the sum of the rows; 20 before any data check", async () => {
    const invoice = `<invoice><paymentMode>IMMEDIATE_DEBIT</paymentMode><acknowledgmentMode>NO_ACKNOWLEDGMENT</acknowledgmentMode><title>t</title><clientInvoiceId>c</clientInvoiceId><invoiceRows><invoiceRow><itemDescription>a</itemDescription><itemQuantity>1</itemQuantity><itemTotalAmount><currency>EUR</currency><value>1.00</value></itemTotalAmount></invoiceRow></invoiceRows><totalAmount><currency>EUR</currency><value>2.00</value></totalAmount><cashierId>k</cashierId></invoice>`;
    const wrapper = (password: string) =>
      envelope(`<e:sendInvoice xmlns:e="${seqrNamespace}">${context(password)}${invoice}</e:sendInvoice>`);
    expect((await postSoap(wrapper(terminal.password))).text).toContain("<resultCode>49</resultCode>");
    expect((await postSoap(wrapper("wrong"))).text).toContain("<resultCode>20</resultCode>");
    expect(kit.sandbox.soap.calls().at(-2)?.reason).toMatch(/not the sum of the rows/);
  });

  it("49 for an amount with more decimals than the currency has", async () => {
    const invoice = `<invoice><paymentMode>IMMEDIATE_DEBIT</paymentMode><acknowledgmentMode>NO_ACKNOWLEDGMENT</acknowledgmentMode><title>t</title><clientInvoiceId>c</clientInvoiceId><totalAmount><currency>EUR</currency><value>1.005</value></totalAmount><cashierId>k</cashierId></invoice>`;
    const { text } = await postSoap(
      envelope(`<e:sendInvoice xmlns:e="${seqrNamespace}">${context()}${invoice}</e:sendInvoice>`),
    );
    expect(text).toContain("<resultCode>49</resultCode>");
  });

  it("21 ACCESS_DENIED: markTransactionPeriod with a TERMINALID, a payment call with a RESELLERUSER", async () => {
    const mark = await postSoap(
      envelope(`<e:markTransactionPeriod xmlns:e="${seqrNamespace}">${context()}</e:markTransactionPeriod>`),
    );
    expect(mark.text).toContain("<resultCode>21</resultCode>");
    const reseller = `<context><channel>WS</channel><clientId>raw</clientId><clientReference>r</clientReference><clientRequestTimeout>0</clientRequestTimeout><initiatorPrincipalId><id>acme_reseller</id><type>RESELLERUSER</type><userId>9900</userId></initiatorPrincipalId><password>reseller-pw-1</password></context>`;
    const status = await postSoap(
      envelope(
        `<e:getPaymentStatus xmlns:e="${seqrNamespace}">${reseller}<invoiceReference>1</invoiceReference><invoiceVersion>0</invoiceVersion></e:getPaymentStatus>`,
      ),
    );
    expect(status.text).toContain("<resultCode>21</resultCode>");
  });

  it("without acknowledgmentMode NO_ACKNOWLEDGMENT the app waits for the amount and cannot confirm", async () => {
    const invoice = `<invoice><paymentMode>RESERVATION_REQUIRED</paymentMode><title>t</title><clientInvoiceId>c</clientInvoiceId><totalAmount><currency>EUR</currency><value>3.00</value></totalAmount><cashierId>k</cashierId></invoice>`;
    const { text } = await postSoap(
      envelope(`<e:sendInvoice xmlns:e="${seqrNamespace}">${context()}${invoice}</e:sendInvoice>`),
    );
    const { invoiceReference } = decodeSeqrResponse("sendInvoice", text, { httpStatus: 200, maxChars: 1e5 });
    const view = kit.sandbox.app.invoice(invoiceReference);
    expect(view.canConfirm).toBe(false);
    expect(view.blocker).toMatch(/waiting for the amount/);
    expect(() => kit.sandbox.app.confirm(invoiceReference, customer)).toThrow(/waiting for the amount/);
  });

  it("a cash-register terminal keeps one open invoice: a new one cancels the previous", async () => {
    await kit.close();
    kit = await startKit({ terminals: [{ ...terminal, currency: "EUR", singleOpenInvoice: true }] });
    const first = await kit.client.sendInvoice(reservationInvoice());
    const second = await kit.client.sendInvoice(reservationInvoice({ clientInvoiceId: "P-2" }));
    expect((await kit.client.getPaymentStatus(first.invoiceReference, 0)).status).toBe("CANCELED");
    expect((await kit.client.getPaymentStatus(second.invoiceReference, 0)).status).toBe("ISSUED");
  });
});

describe("notificationUrl: an empty POST on confirm and on cancel", () => {
  async function sink(status = 200): Promise<RawServer> {
    const server = await startRawServer((_request, response) => {
      response.writeHead(status);
      response.end();
    });
    servers.push(server);
    return server;
  }

  it("POSTs an empty body on the customer's confirmation and on the customer's cancel, and records it", async () => {
    const reseller = await sink();
    const a = await kit.client.sendInvoice(reservationInvoice({ notificationUrl: `${reseller.url}/notify?p=A` }));
    const b = await kit.client.sendInvoice(reservationInvoice({ notificationUrl: `${reseller.url}/notify?p=B` }));
    kit.sandbox.app.confirm(a.invoiceReference, customer);
    kit.sandbox.app.cancel(b.invoiceReference, customer);
    await kit.sandbox.notifier.settled();
    expect(reseller.requests).toHaveLength(2);
    for (const request of reseller.requests) {
      expect(request.body).toBe("");
      expect(request.headers["content-length"]).toBe("0");
    }
    expect(kit.sandbox.notifier.attempts(a.invoiceReference)).toMatchObject([
      { trigger: "confirm", outcome: "delivered", status: 200, url: `${reseller.url}/notify?p=A` },
    ]);
    expect(kit.sandbox.notifier.attempts(b.invoiceReference)).toMatchObject([
      { trigger: "cancel", outcome: "delivered" },
    ]);
    // The merchant's own cancelInvoice does not notify (the merchant knows).
    const c = await kit.client.sendInvoice(reservationInvoice({ notificationUrl: `${reseller.url}/notify?p=C` }));
    await kit.client.cancelInvoice(c.invoiceReference);
    await kit.sandbox.notifier.settled();
    expect(reseller.requests).toHaveLength(2);
  });

  it("records a reseller answering 500", async () => {
    const reseller = await sink(500);
    const { invoiceReference } = await kit.client.sendInvoice(
      reservationInvoice({ notificationUrl: `${reseller.url}/n` }),
    );
    kit.sandbox.app.confirm(invoiceReference, customer);
    await kit.sandbox.notifier.settled();
    expect(kit.sandbox.notifier.attempts(invoiceReference)).toMatchObject([{ outcome: "failed", status: 500 }]);
  });

  it("faults: dropped, sent twice, delayed", async () => {
    const reseller = await sink();
    const notify = (p: string) => reservationInvoice({ notificationUrl: `${reseller.url}/n?p=${p}` });
    const dropped = await kit.client.sendInvoice(notify("drop"));
    const twice = await kit.client.sendInvoice(notify("twice"));
    const delayed = await kit.client.sendInvoice(notify("delay"));
    kit.sandbox.faults.addNotificationFault({ invoiceReference: dropped.invoiceReference, mode: "drop" });
    kit.sandbox.faults.addNotificationFault({ invoiceReference: twice.invoiceReference, mode: "twice" });
    kit.sandbox.faults.addNotificationFault({
      invoiceReference: delayed.invoiceReference,
      mode: "delay",
      delayMs: 150,
    });
    for (const invoice of [dropped, twice, delayed]) kit.sandbox.app.confirm(invoice.invoiceReference, customer);
    await kit.sandbox.notifier.settled();
    expect(reseller.requests).toHaveLength(2);
    expect(kit.sandbox.notifier.attempts(dropped.invoiceReference)).toMatchObject([{ outcome: "dropped" }]);
    expect(kit.sandbox.notifier.attempts(twice.invoiceReference)).toHaveLength(2);
    // The delayed one arrives when it arrives: wait for it rather than for a fixed time.
    const deadline = Date.now() + 20_000;
    while (reseller.requests.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    await kit.sandbox.notifier.settled();
    expect(reseller.requests).toHaveLength(3);
    expect(kit.sandbox.notifier.attempts(delayed.invoiceReference)).toMatchObject([{ outcome: "delivered" }]);
  });
});

describe("the customer's app over HTTP (/app/api)", () => {
  it("lists the customer's invoices, shows rows as updateInvoice changes them, confirms with the PIN", async () => {
    const { invoiceReference } = await kit.client.sendInvoice(reservationInvoice());
    const scanned = await appApi("POST", "scan", {
      msisdn: customer.msisdn,
      qr: `HTTP://SEQR.SE/R${invoiceReference}`,
    });
    expect(scanned.status).toBe(200);
    const listed = await appApi("GET", `customers/${customer.msisdn}/invoices`);
    expect(listed.json.invoices).toMatchObject([
      { invoiceReference, status: "ISSUED", canConfirm: true, merchant: "Acme Vending" },
    ]);

    expect(
      (await appApi("POST", `invoices/${invoiceReference}/confirm`, { msisdn: customer.msisdn, pin: "0000" })).status,
    ).toBe(403);
    expect(kit.sandbox.ledger.get(invoiceReference)?.status).toBe("ISSUED");
    const confirmed = await appApi("POST", `invoices/${invoiceReference}/confirm`, customer);
    expect(confirmed.json.invoice).toMatchObject({ status: "RESERVED", reserved: { minor: 2000, text: "20.00 EUR" } });

    await kit.client.getPaymentStatus(invoiceReference, 0);
    await kit.client.updateInvoice(invoiceReference, {
      ...reservationInvoice(),
      rows: [{ description: "Cola 0.33 l", quantity: 1, total: { minor: 200, currency: "EUR" } }],
      total: { minor: 200, currency: "EUR" },
    });
    const updated = await appApi("GET", `invoices/${invoiceReference}`);
    expect(updated.json.invoice).toMatchObject({
      version: 2,
      rows: [{ description: "Cola 0.33 l", amount: "2.00" }],
      total: { text: "2.00 EUR" },
    });
  });

  it("declines an ISSUED invoice; another customer cannot touch it", async () => {
    const { invoiceReference } = await kit.client.sendInvoice(reservationInvoice());
    await appApi("POST", "scan", { msisdn: customer.msisdn, qr: `HTTP://SEQR.SE/R${invoiceReference}` });
    const intruder = await appApi("POST", `invoices/${invoiceReference}/confirm`, {
      msisdn: "46709999999",
      pin: "1234",
    });
    expect(intruder.status).toBe(409);
    const declined = await appApi("POST", `invoices/${invoiceReference}/cancel`, { msisdn: customer.msisdn });
    expect(declined.json.invoice).toMatchObject({ status: "CANCELED", canConfirm: false, canCancel: false });
  });

  it("answers bad input with 400/404 and a reason, never a changed state", async () => {
    expect((await appApi("POST", "invoices/1/confirm", { msisdn: "abc", pin: "1" })).status).toBe(400);
    expect((await appApi("POST", "invoices/1/confirm", { msisdn: customer.msisdn, pin: customer.pin })).status).toBe(
      404,
    );
    expect((await appApi("POST", "scan", { msisdn: customer.msisdn, qr: "https://example.com" })).json).toMatchObject({
      code: "BAD_SCAN",
    });
    const raw = await fetch(`${kit.sandbox.url}/app/api/scan`, { method: "POST", body: "{not json" });
    expect(raw.status).toBe(400);
    expect((await appApi("GET", "nothing-here")).status).toBe(404);
  });

  it("serves the page at /app/ (self-contained HTML using the relative API)", async () => {
    const response = await fetch(kit.sandbox.appUrl);
    expect(response.headers.get("content-type")).toMatch(/text\/html/);
    const html = await response.text();
    expect(html).toContain('new URL("api/" + path, location.href)');
    // Nothing loaded from elsewhere: no script or stylesheet by URL (the favicon is an inline data: URL, so the browser
    // asks for no /favicon.ico either).
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href="(?!data:)/);
    expect((await fetch(kit.sandbox.url, { redirect: "manual" })).headers.get("location")).toBe("/app/");
  });
});

describe("the UPS caller", () => {
  /** A reseller's createPurchase that does what the bridge will do: sendInvoice, answer the reference. */
  async function reseller(answer?: (body: Record<string, unknown>) => Promise<{ status: number; json: unknown }>) {
    const server = await startRawServer((_request, response, body) => {
      const parsed = JSON.parse(body) as Record<string, unknown>;
      const respond = answer
        ? answer(parsed)
        : kit.client
            .sendInvoice(reservationInvoice({ cashierId: String(parsed.token) }))
            .then(({ invoiceReference }) => ({ status: 200, json: { invoiceReferenceId: invoiceReference } }));
      void respond.then(({ status, json }) => {
        response.writeHead(status, { "content-type": "application/json;charset=UTF-8" });
        response.end(JSON.stringify(json));
      });
    });
    servers.push(server);
    return server;
  }

  it("POSTs createPurchase with the seed's JSON, and shows the invoice to the scanning customer", async () => {
    const target = await reseller();
    await kit.close();
    kit = await startKit({ ups: { merchants: { acme: `${target.url}/seqr/createPurchase` } } });
    const scan = await appApi("POST", "scan", {
      msisdn: customer.msisdn,
      qr: "HTTP://SEQR.SE/000/ups?w=acme&t=M0042",
      amount: "20.00",
      currency: "EUR",
    });
    expect(scan.json).toMatchObject({ kind: "ups", outcome: { kind: "invoice", invoiceKnown: true, token: "M0042" } });
    const request = target.requests[0]!;
    expect(request.body).toBe(`{"token":"M0042","amount":20.00,"currency":"EUR","msisdn":"${customer.msisdn}"}`);
    expect(request.headers.accept).toBe("application/json");
    expect(request.headers["content-type"]).toBe("application/json;charset=UTF-8");
    const invoices = kit.sandbox.app.invoices(customer.msisdn);
    expect(invoices).toHaveLength(1);
    expect(invoices[0]).toMatchObject({ cashierId: "M0042", status: "ISSUED" });
  });

  it("reports the reseller's errorCode, a non-200 answer and an unreachable reseller", async () => {
    const busy = await reseller(async () => ({ status: 200, json: { errorCode: "DEVICE_IN_USE" } }));
    const broken = await reseller(async () => ({ status: 502, json: {} }));
    await kit.close();
    kit = await startKit({
      ups: {
        merchants: {
          busy: `${busy.url}/createPurchase`,
          broken: `${broken.url}/x/createPurchase`,
          gone: "http://127.0.0.1:1/createPurchase",
        },
      },
    });
    const scan = (merchant: string) =>
      kit.sandbox.ups.scan({ qr: `HTTP://SEQR.SE/000/ups?w=${merchant}&t=M1`, msisdn: customer.msisdn });
    expect(await scan("busy")).toMatchObject({ kind: "error-code", errorCode: "DEVICE_IN_USE", documented: true });
    expect(await scan("broken")).toMatchObject({ kind: "failed", httpStatus: 502 });
    expect(await scan("gone")).toMatchObject({ kind: "failed", reason: expect.stringMatching(/ECONNREFUSED/) });
    await expect(scan("nobody")).rejects.toThrow(/no createPurchase URL configured for merchant nobody/);
    expect(kit.sandbox.ups.history()).toHaveLength(3);
  });

  it("can send the 2018 doc's shape (reservationToken, reservationAmount as a string)", async () => {
    const target = await reseller(async () => ({ status: 200, json: { errorCode: "DEVICE_UNAVAILABLE" } }));
    const sandbox = await startSeqrSandbox({
      ups: { createPurchaseUrl: `${target.url}/createPurchase`, bodyShape: "ups-2018" },
    });
    try {
      await sandbox.ups.scan({
        qr: "HTTP://SEQR.SE/000/ups?w=any&t=T9",
        msisdn: "46700000001",
        amount: { minor: 550, currency: "SEK" },
      });
      expect(JSON.parse(target.requests[0]!.body)).toEqual({
        reservationToken: "T9",
        reservationAmount: "5.50",
        currency: "SEK",
        msisdn: "46700000001",
      });
    } finally {
      await sandbox.close();
    }
  });

  it("refuses a createPurchase URL that does not end with createPurchase", async () => {
    await expect(startSeqrSandbox({ ups: { createPurchaseUrl: "https://reseller.example/purchase" } })).rejects.toThrow(
      /must end with createPurchase/,
    );
  });
});

describe("fault injection over the operator API", () => {
  it("arms, lists and clears faults; refuses a bad rule with 400", async () => {
    const post = (body: unknown) =>
      fetch(`${kit.sandbox.url}/sandbox/api/faults`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const armed = await post({
      call: { operation: "sendInvoice", times: 2, effect: { kind: "result-code", code: 94 } },
    });
    expect(armed.status).toBe(201);
    await expect(kit.client.sendInvoice(reservationInvoice())).rejects.toMatchObject({ resultCode: 94 });
    const listed = (await (await fetch(`${kit.sandbox.url}/sandbox/api/faults`)).json()) as { calls: unknown[] };
    expect(listed.calls).toMatchObject([{ remaining: 1 }]);
    expect((await fetch(`${kit.sandbox.url}/sandbox/api/faults`, { method: "DELETE" })).status).toBe(200);
    await expect(kit.client.sendInvoice(reservationInvoice())).resolves.toMatchObject({
      invoiceReference: expect.any(String),
    });
    expect((await post({ call: { effect: { kind: "result-code", code: 0 } } })).status).toBe(400);
    expect((await post({ call: { effect: { kind: "explode" } } })).status).toBe(400);
    const calls = (await (await fetch(`${kit.sandbox.url}/sandbox/api/calls`)).json()) as { calls: unknown[] };
    expect(calls.calls.length).toBe(2);
  });

  it("adds latency to one invoice's calls only", async () => {
    const slow = await kit.client.sendInvoice(reservationInvoice());
    const fast = await kit.client.sendInvoice(reservationInvoice());
    kit.sandbox.faults.addCallFault({
      invoiceReference: slow.invoiceReference,
      times: "always",
      effect: { kind: "latency", ms: 1_000 },
    });
    // Both at once, judged by the order they finish in (not by a wall-clock bound a loaded machine could break).
    const finished: string[] = [];
    const started = Date.now();
    const slowCall = kit.client.getPaymentStatus(slow.invoiceReference, 0).then(() => {
      finished.push("slow");
      return Date.now() - started;
    });
    await kit.client.getPaymentStatus(fast.invoiceReference, 0).then(() => finished.push("fast"));
    expect(await slowCall).toBeGreaterThanOrEqual(990);
    expect(finished).toEqual(["fast", "slow"]);
  });
});
