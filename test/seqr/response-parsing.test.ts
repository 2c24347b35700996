import type { ServerResponse } from "node:http";
import fc from "fast-check";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { decodeSeqrResponse } from "../../backend-bridge/seqr/response-decoder.ts";
import {
  SeqrError,
  SeqrFaultError,
  SeqrHttpError,
  SeqrMalformedResponseError,
  SeqrResultError,
  SeqrTimeoutError,
  SeqrTransportError,
} from "../../backend-bridge/seqr/seqr-errors.ts";
import { SeqrSoapClient } from "../../backend-bridge/seqr/soap-client.ts";
import { seqrNamespace, soapEnvelopeNamespace } from "../../backend-bridge/seqr/soap-envelope.ts";
import { type RawServer, startRawServer } from "./seqr-test-kit.ts";

/**
 * What SEQR (or whatever stands between) may answer, served byte by byte from a tiny raw HTTP server: other
 * prefixes must parse; garbage, truncated, huge, slow or missing answers must end in one typed error each.
 */

type Answer = (response: ServerResponse) => void;
let next: Answer = (response) => response.end();
let server: RawServer;
let client: SeqrSoapClient;

beforeAll(async () => {
  server = await startRawServer((_request, response) => next(response));
});
afterAll(async () => {
  await server.close();
});
afterEach(() => {
  client?.close();
});

function clientWith(options: { timeoutMs?: number; maxResponseBytes?: number } = {}): SeqrSoapClient {
  client = new SeqrSoapClient({
    endpointUrl: `${server.url}/soap`,
    terminalId: "t",
    password: "p4ssword",
    clientId: "test",
    requestTimeoutMs: options.timeoutMs ?? 2_000,
    ...(options.maxResponseBytes ? { maxResponseBytes: options.maxResponseBytes } : {}),
  });
  return client;
}

function xml(status: number, body: string): Answer {
  return (response) => {
    response.writeHead(status, { "content-type": "text/xml; charset=utf-8" });
    response.end(body);
  };
}

const statusReturn =
  "<return><resultCode>0</resultCode><resultDescription>SUCCESS</resultDescription><status>RESERVED</status><version>1</version></return>";

describe("responses are read whatever prefixes the server uses", () => {
  const variants: Array<[string, string]> = [
    [
      "soap: + ns2: (CXF)",
      `<soap:Envelope xmlns:soap="${soapEnvelopeNamespace}"><soap:Body><ns2:getPaymentStatusResponse xmlns:ns2="${seqrNamespace}">${statusReturn}</ns2:getPaymentStatusResponse></soap:Body></soap:Envelope>`,
    ],
    [
      "soapenv: + ns3:, with a Header",
      `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="${soapEnvelopeNamespace}" xmlns:ns3="${seqrNamespace}"><soapenv:Header/><soapenv:Body><ns3:getPaymentStatusResponse>${statusReturn}</ns3:getPaymentStatusResponse></soapenv:Body></soapenv:Envelope>`,
    ],
    [
      "S: (JAX-WS RI), whitespace and comments",
      `<S:Envelope xmlns:S="${soapEnvelopeNamespace}">\n  <S:Body>\n    <!-- a comment -->\n    <ns2:getPaymentStatusResponse xmlns:ns2="${seqrNamespace}">\n      <return>\n        <resultCode>0</resultCode>\n        <status>RESERVED</status>\n        <version>1</version>\n      </return>\n    </ns2:getPaymentStatusResponse>\n  </S:Body>\n</S:Envelope>`,
    ],
    [
      "default namespaces, qualified children",
      `<Envelope xmlns="${soapEnvelopeNamespace}"><Body><getPaymentStatusResponse xmlns="${seqrNamespace}">${statusReturn}</getPaymentStatusResponse></Body></Envelope>`,
    ],
    [
      "SOAP-ENV: + the cashregister-2 namespace",
      `<SOAP-ENV:Envelope xmlns:SOAP-ENV="${soapEnvelopeNamespace}"><SOAP-ENV:Body><x:getPaymentStatusResponse xmlns:x="http://externalclientservice.cashregister.seamless.com/">${statusReturn}</x:getPaymentStatusResponse></SOAP-ENV:Body></SOAP-ENV:Envelope>`,
    ],
  ];
  for (const [label, body] of variants) {
    it(label, async () => {
      next = xml(200, body);
      expect(await clientWith().getPaymentStatus("1", 0)).toEqual({ status: "RESERVED", version: 1 });
    });
  }

  it("reads CANCELLED as CANCELED and an unknown status as UNKNOWN", () => {
    const decode = (status: string) =>
      decodeSeqrResponse(
        "getPaymentStatus",
        `<a:Envelope xmlns:a="${soapEnvelopeNamespace}"><a:Body><b:getPaymentStatusResponse xmlns:b="${seqrNamespace}"><return><resultCode>0</resultCode><status>${status}</status><version>4</version></return></b:getPaymentStatusResponse></a:Body></a:Envelope>`,
        { httpStatus: 200, maxChars: 10_000 },
      );
    expect(decode("CANCELLED").status).toBe("CANCELED");
    expect(decode("PARTIALLY_PAID").status).toBe("UNKNOWN");
  });

  it("maps a resultCode under other prefixes to SeqrResultError with the code and name", async () => {
    next = xml(
      200,
      `<soapenv:Envelope xmlns:soapenv="${soapEnvelopeNamespace}"><soapenv:Body><ns2:cancelInvoiceResponse xmlns:ns2="${seqrNamespace}"><return><resultCode>95</resultCode><resultDescription>INVOICE_ALREADY_CANCELED</resultDescription></return></ns2:cancelInvoiceResponse></soapenv:Body></soapenv:Envelope>`,
    );
    await expect(clientWith().cancelInvoice("1")).rejects.toMatchObject({
      constructor: SeqrResultError,
      resultCode: 95,
      resultName: "INVOICE_ALREADY_CANCELED",
    });
  });

  it("decodes entities and CDATA in values", async () => {
    next = xml(
      200,
      `<S:Envelope xmlns:S="${soapEnvelopeNamespace}"><S:Body><ns2:sendInvoiceResponse xmlns:ns2="${seqrNamespace}"><return><resultCode>0</resultCode><invoiceQRCode><![CDATA[HTTP://SEQR.SE/R1&2]]></invoiceQRCode><invoiceReference>&#49;2&#x33;</invoiceReference></return></ns2:sendInvoiceResponse></S:Body></S:Envelope>`,
    );
    const invoice = {
      title: "t",
      clientInvoiceId: "c",
      cashierId: "k",
      rows: [],
      total: { minor: 100, currency: "EUR" },
    };
    expect(await clientWith().sendInvoice(invoice)).toEqual({
      invoiceReference: "123",
      invoiceQRCode: "HTTP://SEQR.SE/R1&2",
    });
  });
});

describe("faults and HTTP errors are distinct", () => {
  it("a soap:Client Fault with HTTP 500 -> SeqrFaultError, outcome known (refused)", async () => {
    next = xml(
      500,
      `<soapenv:Envelope xmlns:soapenv="${soapEnvelopeNamespace}"><soapenv:Body><soapenv:Fault><faultcode>soapenv:Client</faultcode><faultstring>Unmarshalling Error</faultstring></soapenv:Fault></soapenv:Body></soapenv:Envelope>`,
    );
    const error = await clientWith()
      .getPaymentStatus("1", 0)
      .catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(SeqrFaultError);
    expect(error).toMatchObject({ faultCode: "Client", faultString: "Unmarshalling Error", httpStatus: 500 });
    expect((error as SeqrFaultError).outcomeUnknown).toBe(false);
  });

  it("a Fault even with HTTP 200 is a SeqrFaultError", async () => {
    next = xml(
      200,
      `<S:Envelope xmlns:S="${soapEnvelopeNamespace}"><S:Body><S:Fault><faultcode>S:Server</faultcode><faultstring>boom</faultstring><detail><x>trace</x></detail></S:Fault></S:Body></S:Envelope>`,
    );
    await expect(clientWith().getPaymentStatus("1", 0)).rejects.toMatchObject({
      constructor: SeqrFaultError,
      faultCode: "Server",
      httpStatus: 200,
    });
  });

  it("a proxy's 503 HTML page and an empty 404 -> SeqrHttpError with the status", async () => {
    next = (response) => {
      response.writeHead(503, { "content-type": "text/html" });
      response.end("<html><body>Service Unavailable</body></html>");
    };
    await expect(clientWith().getPaymentStatus("1", 0)).rejects.toMatchObject({
      constructor: SeqrHttpError,
      status: 503,
    });
    next = (response) => {
      response.writeHead(404);
      response.end();
    };
    await expect(clientWith().getPaymentStatus("1", 0)).rejects.toMatchObject({
      constructor: SeqrHttpError,
      status: 404,
    });
  });
});

describe("garbage, truncated and huge answers give a typed error, never a crash or a hang", () => {
  const malformed: Array<[string, string]> = [
    ["empty body", ""],
    ["plain text", "Hello, I am not SOAP"],
    ["JSON", '{"resultCode":0}'],
    ["HTML", "<html><body><h1>It works!</h1></body></html>"],
    [
      "truncated XML",
      `<soap:Envelope xmlns:soap="${soapEnvelopeNamespace}"><soap:Body><ns2:getPaymentStatusResponse xmlns:ns2="${seqrNamespace}"><return><resultCode>0</resultCode><status>RESER`,
    ],
    [
      "mismatched tags",
      `<soap:Envelope xmlns:soap="${soapEnvelopeNamespace}"><soap:Body><a></b></soap:Body></soap:Envelope>`,
    ],
    [
      "undeclared prefix",
      `<soap:Envelope xmlns:soap="${soapEnvelopeNamespace}"><soap:Body><ns9:getPaymentStatusResponse><return/></ns9:getPaymentStatusResponse></soap:Body></soap:Envelope>`,
    ],
    [
      "SOAP 1.2 envelope",
      `<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body/></env:Envelope>`,
    ],
    [
      "the wrong response element",
      `<soap:Envelope xmlns:soap="${soapEnvelopeNamespace}"><soap:Body><ns2:sendInvoiceResponse xmlns:ns2="${seqrNamespace}"><return><resultCode>0</resultCode></return></ns2:sendInvoiceResponse></soap:Body></soap:Envelope>`,
    ],
    [
      "a foreign namespace",
      `<soap:Envelope xmlns:soap="${soapEnvelopeNamespace}"><soap:Body><ns2:getPaymentStatusResponse xmlns:ns2="urn:evil"><return><resultCode>0</resultCode><status>PAID</status></return></ns2:getPaymentStatusResponse></soap:Body></soap:Envelope>`,
    ],
    [
      "no resultCode",
      `<soap:Envelope xmlns:soap="${soapEnvelopeNamespace}"><soap:Body><ns2:getPaymentStatusResponse xmlns:ns2="${seqrNamespace}"><return><status>PAID</status></return></ns2:getPaymentStatusResponse></soap:Body></soap:Envelope>`,
    ],
    [
      "a non-numeric resultCode",
      `<soap:Envelope xmlns:soap="${soapEnvelopeNamespace}"><soap:Body><ns2:getPaymentStatusResponse xmlns:ns2="${seqrNamespace}"><return><resultCode>zero</resultCode></return></ns2:getPaymentStatusResponse></soap:Body></soap:Envelope>`,
    ],
    [
      "an entity bomb in a DOCTYPE",
      `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><soap:Envelope xmlns:soap="${soapEnvelopeNamespace}"><soap:Body>&lol2;</soap:Body></soap:Envelope>`,
    ],
    ["an external entity", `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><x>&xxe;</x>`],
    [
      "an undeclared entity",
      `<soap:Envelope xmlns:soap="${soapEnvelopeNamespace}"><soap:Body>&xxe;</soap:Body></soap:Envelope>`,
    ],
    [
      "deep nesting",
      `<soap:Envelope xmlns:soap="${soapEnvelopeNamespace}"><soap:Body>${"<a>".repeat(500)}${"</a>".repeat(500)}</soap:Body></soap:Envelope>`,
    ],
    ["binary noise", "\u0000\u0001\u00ff\ufffd<<<>>>&&&"],
  ];
  for (const [label, body] of malformed) {
    it(`${label} -> SeqrMalformedResponseError`, async () => {
      next = xml(200, body);
      const error = await clientWith()
        .getPaymentStatus("1", 0)
        .catch((failure: unknown) => failure);
      expect(error).toBeInstanceOf(SeqrMalformedResponseError);
      expect((error as SeqrMalformedResponseError).outcomeUnknown).toBe(true);
    });
  }

  it("a declared 50 MB body is refused at the headers", async () => {
    next = (response) => {
      response.writeHead(200, { "content-type": "text/xml", "content-length": String(50 * 1024 * 1024) });
      response.write("<soap:Envelope>");
    };
    const started = Date.now();
    await expect(clientWith({ maxResponseBytes: 64 * 1024 }).getPaymentStatus("1", 0)).rejects.toThrow(/exceeds 65536/);
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it("an endless chunked body is cut at the size limit", async () => {
    next = (response) => {
      response.writeHead(200, { "content-type": "text/xml" });
      const chunk = `<x>${"a".repeat(16 * 1024)}</x>`;
      const pump = () => {
        if (response.destroyed) return;
        if (response.write(chunk)) setImmediate(pump);
        else response.once("drain", pump);
      };
      response.on("error", () => undefined);
      pump();
    };
    const error = await clientWith({ maxResponseBytes: 256 * 1024 })
      .getPaymentStatus("1", 0)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SeqrMalformedResponseError);
    expect((error as Error).message).toMatch(/exceeds 262144 bytes/);
  });

  it("a body cut off mid-transfer (connection closed) -> SeqrTransportError", async () => {
    next = (response) => {
      response.writeHead(200, { "content-type": "text/xml", "content-length": "1000" });
      response.write(`<soap:Envelope xmlns:soap="${soapEnvelopeNamespace}"><soap:Body>`);
      setTimeout(() => response.socket?.destroy(), 20);
    };
    await expect(clientWith().getPaymentStatus("1", 0)).rejects.toBeInstanceOf(SeqrTransportError);
  });

  it("no answer at all -> SeqrTimeoutError after the per-call timeout", async () => {
    next = () => undefined;
    const started = Date.now();
    const error = await clientWith({ timeoutMs: 300 })
      .getPaymentStatus("1", 0)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SeqrTimeoutError);
    expect((error as SeqrTimeoutError).timeoutMs).toBe(300);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("headers then a stalled body -> SeqrTimeoutError (the deadline covers the body)", async () => {
    next = (response) => {
      response.writeHead(200, { "content-type": "text/xml" });
      response.write("<soap:Envelope");
    };
    await expect(clientWith({ timeoutMs: 300 }).getPaymentStatus("1", 0)).rejects.toBeInstanceOf(SeqrTimeoutError);
  });

  it("a per-operation timeout overrides the default", async () => {
    next = () => undefined;
    client = new SeqrSoapClient({
      endpointUrl: `${server.url}/soap`,
      terminalId: "t",
      password: "p",
      clientId: "c",
      requestTimeoutMs: 10_000,
      operationTimeoutsMs: { getPaymentStatus: 200 },
    });
    await expect(client.getPaymentStatus("1", 0)).rejects.toMatchObject({
      constructor: SeqrTimeoutError,
      timeoutMs: 200,
    });
  });

  it("a refused connection -> SeqrTransportError", async () => {
    const closed = await startRawServer(() => undefined);
    const url = closed.url;
    await closed.close();
    client = new SeqrSoapClient({ endpointUrl: `${url}/soap`, terminalId: "t", password: "p", clientId: "c" });
    const error = await client.getPaymentStatus("1", 0).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SeqrTransportError);
    expect((error as Error).message).toMatch(/ECONNREFUSED/);
  });

  it("any byte sequence, and any truncation of a valid answer, decodes or fails with a SeqrError (property)", () => {
    const valid = `<soap:Envelope xmlns:soap="${soapEnvelopeNamespace}"><soap:Body><ns2:getPaymentStatusResponse xmlns:ns2="${seqrNamespace}">${statusReturn}</ns2:getPaymentStatusResponse></soap:Body></soap:Envelope>`;
    const attempt = (body: string, httpStatus: number) => {
      try {
        decodeSeqrResponse("getPaymentStatus", body, { httpStatus, maxChars: 100_000 });
        return true;
      } catch (error) {
        return error instanceof SeqrError;
      }
    };
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 400 }), fc.constantFrom(200, 500), (body, status) =>
        attempt(body, status),
      ),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.nat(valid.length - 1), fc.string({ maxLength: 5 }), (cut, tail) =>
        attempt(valid.slice(0, cut) + tail, 200),
      ),
      { numRuns: 500 },
    );
    for (let cut = 0; cut < valid.length; cut++) {
      // Every strict prefix is malformed: the decoder never takes half a document for a whole one.
      expect(() =>
        decodeSeqrResponse("getPaymentStatus", valid.slice(0, cut), { httpStatus: 200, maxChars: 1e5 }),
      ).toThrow(SeqrMalformedResponseError);
    }
  });
});
