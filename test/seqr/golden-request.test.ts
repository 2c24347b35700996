import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SeqrSoapClient } from "../../backend-bridge/seqr/soap-client.ts";
import { seqrNamespace, soapEnvelopeNamespace } from "../../backend-bridge/seqr/soap-envelope.ts";
import { parseXmlDocument } from "../../backend-bridge/seqr/xml-document.ts";
import { type RawServer, reservationInvoice, type Shape, shapeOf, startRawServer } from "./seqr-test-kit.ts";

/**
 * The request envelopes checked element by element against the documented wire format (seqr-protocol.md §4-§7):
 * namespaces, local names, WSDL order and values, not a string comparison of whole documents.
 */

const E = seqrNamespace;

/** seqr-protocol.md §7's composed UPS sendInvoice body, in an envelope. */
const documentedSendInvoice = `<?xml version="1.0"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Header/><soapenv:Body>
<ext:sendInvoice xmlns:ext="http://external.interfaces.ers.seamless.com/">
  <context><channel>WS</channel><clientId>AcmeUPS 1.0</clientId><clientReference>cp-7f3a</clientReference>
    <clientRequestTimeout>0</clientRequestTimeout>
    <initiatorPrincipalId><id>0123456789abcdef0123456789abcdef</id><type>TERMINALID</type></initiatorPrincipalId>
    <password>s3cret</password></context>
  <invoice><paymentMode>RESERVATION_REQUIRED_PRELIMINARY_AMOUNT</paymentMode>
    <acknowledgmentMode>NO_ACKNOWLEDGMENT</acknowledgmentMode><issueDate>2018-05-02T10:00:00</issueDate>
    <title>Vending M0042</title><clientInvoiceId>P-000981</clientInvoiceId>
    <invoiceRows><invoiceRow><itemDescription>Reservation</itemDescription><itemQuantity>1</itemQuantity>
      <itemTotalAmount><currency>EUR</currency><value>20.00</value></itemTotalAmount></invoiceRow></invoiceRows>
    <totalAmount><currency>EUR</currency><value>20.00</value></totalAmount><cashierId>M0042</cashierId>
    <notificationUrl>https://rs.example/seqr/notify?p=P-000981</notificationUrl>
    <commitReservationTimeout>600</commitReservationTimeout></invoice>
</ext:sendInvoice></soapenv:Body></soapenv:Envelope>`;

const okResponse = (operation: string, extra = "") =>
  `<S:Envelope xmlns:S="${soapEnvelopeNamespace}"><S:Body><ns2:${operation}Response xmlns:ns2="${E}"><return>` +
  `<resultCode>0</resultCode><resultDescription>SUCCESS</resultDescription>${extra}</return>` +
  `</ns2:${operation}Response></S:Body></S:Envelope>`;

const extras: Record<string, string> = {
  sendInvoice: "<invoiceReference>20180502100000123</invoiceReference>",
  getPaymentStatus: "<status>ISSUED</status><version>0</version>",
  refundPayment: "<ersReference>2015102910184861801032678</ersReference>",
  markTransactionPeriod: "<transactionPeriodId>2015102910184861801032679</transactionPeriodId>",
  executeReport: "<report><contentString>kind</contentString></report>",
};

let server: RawServer;
let client: SeqrSoapClient;

beforeAll(async () => {
  server = await startRawServer((_request, response, body) => {
    const operation = /<ext:(\w+) /.exec(body)?.[1] ?? "unknown";
    response.writeHead(200, { "content-type": "text/xml;charset=utf-8" });
    response.end(okResponse(operation, extras[operation] ?? ""));
  });
  client = new SeqrSoapClient({
    endpointUrl: `${server.url}/soap/merchant/cashregister-2`,
    terminalId: "0123456789abcdef0123456789abcdef",
    password: "s3cret",
    clientId: "AcmeUPS 1.0",
    resellerUser: { id: "public_test_shop", userId: "9900", password: "1234" },
    newClientReference: () => "cp-7f3a",
  });
});
afterAll(async () => {
  client.close();
  await server.close();
});

function lastRequest(): { shape: Shape; raw: string; headers: Record<string, unknown> } {
  const request = server.requests.at(-1)!;
  return {
    shape: shapeOf(parseXmlDocument(request.body, { maxChars: 1e6 })),
    raw: request.body,
    headers: request.headers,
  };
}

const envelope = (wrapper: string, children: Shape[]): Shape => ({
  ns: soapEnvelopeNamespace,
  name: "Envelope",
  children: [
    { ns: soapEnvelopeNamespace, name: "Header", text: "" },
    { ns: soapEnvelopeNamespace, name: "Body", children: [{ ns: E, name: wrapper, children }] },
  ],
});
const leaf = (name: string, text: string): Shape => ({ name, text });
const amount = (name: string, currency: string, value: string): Shape => ({
  name,
  children: [leaf("currency", currency), leaf("value", value)],
});
const terminalContext: Shape = {
  name: "context",
  children: [
    leaf("channel", "WS"),
    leaf("clientId", "AcmeUPS 1.0"),
    leaf("clientReference", "cp-7f3a"),
    leaf("clientRequestTimeout", "0"),
    {
      name: "initiatorPrincipalId",
      children: [leaf("id", "0123456789abcdef0123456789abcdef"), leaf("type", "TERMINALID")],
    },
    leaf("password", "s3cret"),
  ],
};

describe("request envelopes match the documented wire format", () => {
  it("sendInvoice equals the documented UPS example element by element, and is sent as SOAP 1.1", async () => {
    await client.sendInvoice(
      reservationInvoice({
        issueDate: "2018-05-02T10:00:00",
        notificationUrl: "https://rs.example/seqr/notify?p=P-000981",
      }),
    );
    const { shape, raw, headers } = lastRequest();
    expect(shape).toEqual(shapeOf(parseXmlDocument(documentedSendInvoice, { maxChars: 1e6 })));
    // Only the wrapper is namespaced, through a prefix: a default xmlns= would qualify every child.
    expect(raw).not.toMatch(/\sxmlns="/);
    expect(raw.startsWith('<?xml version="1.0" encoding="UTF-8"?>')).toBe(true);
    expect(headers.soapaction).toBe('""');
    expect(headers["content-type"]).toBe("text/xml; charset=UTF-8");
  });

  it("commitReservation: context, amount, invoiceReference (JAR 2.9+ order)", async () => {
    await client.commitReservation("20180502100000123", { minor: 150, currency: "EUR" });
    expect(lastRequest().shape).toEqual(
      envelope("commitReservation", [
        terminalContext,
        amount("amount", "EUR", "1.50"),
        leaf("invoiceReference", "20180502100000123"),
      ]),
    );
  });

  it("getPaymentStatus: context, invoiceReference, invoiceVersion", async () => {
    await client.getPaymentStatus("20180502100000123", 3);
    expect(lastRequest().shape).toEqual(
      envelope("getPaymentStatus", [
        terminalContext,
        leaf("invoiceReference", "20180502100000123"),
        leaf("invoiceVersion", "3"),
      ]),
    );
  });

  it("cancelInvoice: context, invoiceReference", async () => {
    await client.cancelInvoice("20180502100000123");
    expect(lastRequest().shape).toEqual(
      envelope("cancelInvoice", [terminalContext, leaf("invoiceReference", "20180502100000123")]),
    );
  });

  it("updateInvoice: context, invoiceReference, invoice with rows in WSDL order (SKU, unit price)", async () => {
    await client.updateInvoice("20180502100000123", {
      issueDate: "2018-05-02T10:01:00",
      title: "Vending M0042",
      clientInvoiceId: "P-000981",
      cashierId: "M0042",
      rows: [
        {
          description: "Cola 0.33 l",
          sku: "COLA-033",
          quantity: 2,
          unitPrice: { minor: 200, currency: "EUR" },
          total: { minor: 400, currency: "EUR" },
        },
      ],
      total: { minor: 400, currency: "EUR" },
      footer: "Thank you",
    });
    expect(lastRequest().shape).toEqual(
      envelope("updateInvoice", [
        terminalContext,
        leaf("invoiceReference", "20180502100000123"),
        {
          name: "invoice",
          children: [
            leaf("acknowledgmentMode", "NO_ACKNOWLEDGMENT"),
            leaf("issueDate", "2018-05-02T10:01:00"),
            leaf("title", "Vending M0042"),
            leaf("clientInvoiceId", "P-000981"),
            {
              name: "invoiceRows",
              children: [
                {
                  name: "invoiceRow",
                  children: [
                    leaf("itemDescription", "Cola 0.33 l"),
                    leaf("itemQuantity", "2"),
                    leaf("itemSKU", "COLA-033"),
                    amount("itemTotalAmount", "EUR", "4.00"),
                    amount("itemUnitPrice", "EUR", "2.00"),
                  ],
                },
              ],
            },
            amount("totalAmount", "EUR", "4.00"),
            leaf("cashierId", "M0042"),
            leaf("footer", "Thank you"),
          ],
        },
      ]),
    );
  });

  it("refundPayment: context, ersReference, invoice", async () => {
    await client.refundPayment("2015102910184861801032678", {
      issueDate: "2018-05-03T09:00:00",
      title: "Refund",
      clientInvoiceId: "R-1",
      cashierId: "M0042",
      rows: [],
      total: { minor: 1234, currency: "SEK" },
    });
    const { shape } = lastRequest();
    const body = shape.children![1]!.children![0]!;
    expect(body.children!.map((child) => child.name)).toEqual(["context", "ersReference", "invoice"]);
    expect(body.children![2]!.children!.map((child) => child.name)).toEqual([
      "acknowledgmentMode",
      "issueDate",
      "title",
      "clientInvoiceId",
      "totalAmount",
      "cashierId",
    ]);
    expect(body.children![2]!.children![4]).toEqual(amount("totalAmount", "SEK", "12.34"));
  });

  it("submitPaymentReceipt: receiptDocument with mimeType, base64 receiptData, receiptType", async () => {
    await client.submitPaymentReceipt("2015102910184861801032678", {
      mimeType: "text/plain",
      data: Buffer.from("Receipt <1> & co"),
      type: "PAYMENT_RECEIPT",
    });
    expect(lastRequest().shape).toEqual(
      envelope("submitPaymentReceipt", [
        terminalContext,
        leaf("ersReference", "2015102910184861801032678"),
        {
          name: "receiptDocument",
          children: [
            leaf("mimeType", "text/plain"),
            leaf("receiptData", Buffer.from("Receipt <1> & co").toString("base64")),
            leaf("receiptType", "PAYMENT_RECEIPT"),
          ],
        },
      ]),
    );
  });

  it("markTransactionPeriod: the RESELLERUSER principal with userId, and the parameter map", async () => {
    await client.markTransactionPeriod({ TERMINALID: "0123456789abcdef0123456789abcdef" });
    expect(lastRequest().shape).toEqual(
      envelope("markTransactionPeriod", [
        {
          name: "context",
          children: [
            leaf("channel", "WS"),
            leaf("clientId", "AcmeUPS 1.0"),
            leaf("clientReference", "cp-7f3a"),
            leaf("clientRequestTimeout", "0"),
            {
              name: "initiatorPrincipalId",
              children: [leaf("id", "public_test_shop"), leaf("type", "RESELLERUSER"), leaf("userId", "9900")],
            },
            leaf("password", "1234"),
          ],
        },
        {
          name: "parameters",
          children: [
            {
              name: "parameter",
              children: [
                {
                  name: "entry",
                  children: [leaf("key", "TERMINALID"), leaf("value", "0123456789abcdef0123456789abcdef")],
                },
              ],
            },
          ],
        },
      ]),
    );
  });

  it("executeReport: the RESELLERUSER principal, reportId, then the parameter map", async () => {
    await client.executeReport("Reconciliation/Shop.xml", { transactionPeriodId: "2015102910184861801032679" });
    const shape = lastRequest().shape as { children: { children: Shape[] }[] };
    const wrapper = shape.children[1]!.children[0] as { ns?: string; name: string; children: Shape[] };
    expect(wrapper).toMatchObject({ ns: E, name: "executeReport" });
    expect(wrapper.children.map((child) => (child as { name: string }).name)).toEqual([
      "context",
      "reportId",
      "parameters",
    ]);
    expect(wrapper.children[0]).toMatchObject({
      children: expect.arrayContaining([
        {
          name: "initiatorPrincipalId",
          children: [leaf("id", "public_test_shop"), leaf("type", "RESELLERUSER"), leaf("userId", "9900")],
        },
        leaf("password", "1234"),
      ]),
    });
    expect(wrapper.children.slice(1)).toEqual([
      leaf("reportId", "Reconciliation/Shop.xml"),
      {
        name: "parameters",
        children: [
          {
            name: "parameter",
            children: [
              {
                name: "entry",
                children: [leaf("key", "transactionPeriodId"), leaf("value", "2015102910184861801032679")],
              },
            ],
          },
        ],
      },
    ]);
  });

  it("escapes markup in values instead of breaking the document", async () => {
    await client.sendInvoice(
      reservationInvoice({
        title: `Snacks <b>&</b> "drinks"`,
        clientInvoiceId: "P-1",
        issueDate: "2018-05-02T10:00:00",
      }),
    );
    const invoice = lastRequest().shape.children![1]!.children![0]!.children![1]!;
    expect(invoice.children!.find((child) => child.name === "title")?.text).toBe(`Snacks <b>&</b> "drinks"`);
  });

  it("refuses a value XML cannot carry (a control character) before sending", async () => {
    const before = server.requests.length;
    await expect(client.sendInvoice(reservationInvoice({ title: "bad\u0001title" }))).rejects.toThrow(
      /title holds a character XML cannot carry/,
    );
    expect(server.requests.length).toBe(before);
  });

  it("gives every call a fresh clientReference of at most 32 characters by default", async () => {
    const references = new Set<string>();
    const fresh = new SeqrSoapClient({
      endpointUrl: `${server.url}/soap`,
      terminalId: "t",
      password: "p",
      clientId: "c",
    });
    for (let i = 0; i < 5; i++) {
      await fresh.getPaymentStatus("1", 0);
      const context = lastRequest().shape.children![1]!.children![0]!.children![0]!;
      references.add(context.children!.find((child) => child.name === "clientReference")!.text!);
    }
    fresh.close();
    expect(references.size).toBe(5);
    for (const reference of references) expect(reference.length).toBeLessThanOrEqual(32);
  });
});
