/**
 * Cost of the SEQR SOAP codec per call, both sides, CPU only (no sockets):
 *   client: encodeRequest (ClientContext + arguments -> envelope) + decodeSeqrResponse (hardened parse -> typed result)
 *   sandbox: readSoapEnvelope + readRequest (request -> typed) + building the response envelope
 * Run: npx tsx bench/seqr-codec.ts [iterations]
 */
import { build } from "hdr-histogram-js";
import { readRequest } from "../backend-bridge/sandbox/soap-request-reader.ts";
import { type ClientContext, encodeRequest, type SeqrRequest } from "../backend-bridge/seqr/request-encoder.ts";
import { decodeSeqrResponse } from "../backend-bridge/seqr/response-decoder.ts";
import type { SeqrOperation } from "../backend-bridge/seqr/seqr-errors.ts";
import {
  buildSoapEnvelope,
  cxfResponsePrefixes,
  readSoapEnvelope,
  seqrNamespace,
  soapEnvelopeNamespace,
} from "../backend-bridge/seqr/soap-envelope.ts";

const iterations = Number(process.argv[2] ?? 20_000);
const context: ClientContext = {
  channel: "WS",
  clientId: "Acme Vending 1.0",
  clientReference: "0123456789abcdef0123456789abcdef",
  principal: { type: "TERMINALID", id: "0123456789abcdef0123456789abcdef" },
  password: "s3cret",
};
const rows = [150, 200, 120].map((minor, index) => ({
  description: `Item ${index}`,
  sku: `SKU-${index}`,
  quantity: 1,
  total: { minor, currency: "EUR" },
}));
const invoice = {
  paymentMode: "RESERVATION_REQUIRED_PRELIMINARY_AMOUNT" as const,
  title: "Vending M0042",
  clientInvoiceId: "P-000981",
  cashierId: "M0042",
  rows,
  total: { minor: 470, currency: "EUR" },
  notificationUrl: "https://rs.example/seqr/notify?p=P-000981",
  commitReservationTimeoutSeconds: 600,
};
const response = (operation: string, extra: string) =>
  `<soap:Envelope xmlns:soap="${soapEnvelopeNamespace}"><soap:Body><ns2:${operation}Response xmlns:ns2="${seqrNamespace}"><return><resultCode>0</resultCode><resultDescription>SUCCESS</resultDescription>${extra}</return></ns2:${operation}Response></soap:Body></soap:Envelope>`;

const cases: Array<{ label: string; request: SeqrRequest; response: string }> = [
  {
    label: "sendInvoice (3 rows)",
    request: { operation: "sendInvoice", invoice, issueDate: "2018-05-02T10:00:00" },
    response: response(
      "sendInvoice",
      "<invoiceQRCode>HTTP://SEQR.SE/R1397240460668</invoiceQRCode><invoiceReference>1397240460668</invoiceReference>",
    ),
  },
  {
    label: "getPaymentStatus (PAID + receipt)",
    request: { operation: "getPaymentStatus", invoiceReference: "1397240460668", invoiceVersion: 1 },
    response: response(
      "getPaymentStatus",
      "<status>PAID</status><receipt><terminalId>t</terminalId><paymentDate>2015-10-29T10:18:48.663+01:00</paymentDate><invoiceReference>1397240460668</invoiceReference><paymentReference>2015102910184861801032678</paymentReference></receipt><version>3</version>",
    ),
  },
  {
    label: "commitReservation",
    request: {
      operation: "commitReservation",
      invoiceReference: "1397240460668",
      amount: { minor: 470, currency: "EUR" },
    },
    response: response("commitReservation", ""),
  },
];

function measure(run: () => void): { usPerCall: number; opsPerSecond: number; p50: number; p99: number } {
  for (let i = 0; i < Math.min(2_000, iterations); i++) run(); // warm-up (JIT)
  const histogram = build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 10_000_000,
    numberOfSignificantValueDigits: 3,
  });
  const started = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) {
    const t0 = process.hrtime.bigint();
    run();
    histogram.recordValue(Number(process.hrtime.bigint() - t0)); // ns
  }
  const totalNs = Number(process.hrtime.bigint() - started);
  return {
    usPerCall: totalNs / iterations / 1000,
    opsPerSecond: (iterations * 1e9) / totalNs,
    p50: histogram.getValueAtPercentile(50) / 1000,
    p99: histogram.getValueAtPercentile(99) / 1000,
  };
}

const table: Record<string, Record<string, string>> = {};
for (const { label, request, response: body } of cases) {
  const operation = request.operation as SeqrOperation;
  let requestXml = "";
  const client = measure(() => {
    requestXml = encodeRequest(request, context);
    decodeSeqrResponse(operation, body, { httpStatus: 200, maxChars: 262_144 });
  });
  const server = measure(() => {
    const message = readSoapEnvelope(requestXml, { maxChars: 1_048_576 });
    if (message.kind !== "body") throw new Error("unexpected fault");
    readRequest(operation, message.element);
    buildSoapEnvelope(
      `${operation}Response`,
      { return: { resultCode: "0", resultDescription: "SUCCESS" } },
      {
        prefixes: cxfResponsePrefixes,
        header: false,
      },
    );
  });
  for (const [side, figures] of [
    ["client encode+decode", client],
    ["sandbox decode+encode", server],
  ] as const) {
    table[`${label} | ${side}`] = {
      "µs/call": figures.usPerCall.toFixed(1),
      "ops/s": Math.round(figures.opsPerSecond).toLocaleString("en"),
      "p50 µs": figures.p50.toFixed(1),
      "p99 µs": figures.p99.toFixed(1),
      "request bytes": String(Buffer.byteLength(requestXml)),
    };
  }
}
console.log(`SEQR SOAP codec, ${iterations} iterations per row, Node ${process.version}`);
console.table(table);
