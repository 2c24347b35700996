import { describe, expect, it } from "vitest";
import { formatPeriodReport, PeriodReportError, parsePeriodReport } from "../../backend-bridge/seqr/period-report.ts";
import { decodeSeqrResponse } from "../../backend-bridge/seqr/response-decoder.ts";
import { SeqrMalformedResponseError, SeqrResultError } from "../../backend-bridge/seqr/seqr-errors.ts";
import { seqrNamespace, soapEnvelopeNamespace } from "../../backend-bridge/seqr/soap-envelope.ts";

/** executeReport's answer read from the wire, and the period report's text both ways (seqr/period-report.ts). */

const answer = (inner: string, code = 0) =>
  `<S:Envelope xmlns:S="${soapEnvelopeNamespace}"><S:Body><ns2:executeReportResponse xmlns:ns2="${seqrNamespace}">` +
  `<return><resultCode>${code}</resultCode><resultDescription>X</resultDescription>${inner}</return>` +
  "</ns2:executeReportResponse></S:Body></S:Envelope>";

const decode = (body: string) => decodeSeqrResponse("executeReport", body, { httpStatus: 200, maxChars: 1e6 });

describe("executeReport answers", () => {
  it("reads the report's contentString, else its base64 content, with title and mimeType", () => {
    expect(
      decode(
        answer("<report><title>T</title><mimeType>text/csv</mimeType><contentString>a,b</contentString></report>"),
      ),
    ).toEqual({ report: { title: "T", mimeType: "text/csv", content: "a,b" } });
    const base64 = Buffer.from("kind,é").toString("base64");
    expect(decode(answer(`<report><content>${base64}</content></report>`))).toEqual({ report: { content: "kind,é" } });
  });

  it("a success without a report, or with content that is not base64, is malformed", () => {
    expect(() => decode(answer(""))).toThrow(SeqrMalformedResponseError);
    expect(() => decode(answer("<report><content>%%%</content></report>"))).toThrow(/not base64/);
    expect(() => decode(answer("<report><title>T</title></report>"))).toThrow(/neither/);
  });

  it("2 REPORT_NOT_READY is a transient result error (try again in a few seconds)", () => {
    const error = (() => {
      try {
        decode(answer("", 2));
      } catch (failure) {
        return failure;
      }
    })() as SeqrResultError;
    expect(error).toBeInstanceOf(SeqrResultError);
    expect(error.resultName).toBe("REPORT_NOT_READY");
    expect(error.transient).toBe(true);
  });
});

describe("the period report's text", () => {
  const report = {
    payments: [
      {
        ersReference: "2026120310000000000000001",
        invoiceReference: "1764756000000",
        clientInvoiceId: "P-1",
        terminalId: "T",
        amountMinor: 150,
        currency: "EUR",
      },
    ],
    refunds: [
      {
        ersReference: "2026120310000000000000002",
        paymentErsReference: "2026120310000000000000001",
        invoiceReference: "1764756000000",
        clientInvoiceId: "P-1",
        terminalId: "T",
        amountMinor: 5,
        currency: "JPY",
      },
    ],
  };

  it("round-trips payments and refunds in integer minor units, amounts as #.## by the currency", () => {
    const text = formatPeriodReport(report);
    expect(text.split("\n")[1]).toContain(",1.50,EUR");
    expect(text.split("\n")[2]).toContain(",5,JPY");
    expect(parsePeriodReport(text)).toEqual(report);
  });

  it("reads columns by name in any order", () => {
    const text =
      "currency,amount,kind,ersReference,paymentErsReference,invoiceReference,clientInvoiceId,terminalId\n" +
      "EUR,2.00,payment,E1,,I1,C1,T\n";
    expect(parsePeriodReport(text).payments).toEqual([
      {
        ersReference: "E1",
        invoiceReference: "I1",
        clientInvoiceId: "C1",
        terminalId: "T",
        amountMinor: 200,
        currency: "EUR",
      },
    ]);
  });

  it("refuses a line it cannot read, naming it, instead of skipping a payment", () => {
    const header = "kind,ersReference,paymentErsReference,invoiceReference,clientInvoiceId,terminalId,amount,currency";
    expect(() => parsePeriodReport(`${header}\npayment,E1,,I,C,T,1.5x,EUR`)).toThrow(/line 2/);
    expect(() => parsePeriodReport(`${header}\nrefund,E1,,I,C,T,1.00,EUR`)).toThrow(/without its payment/);
    expect(() => parsePeriodReport(`${header}\nbonus,E1,,I,C,T,1.00,EUR`)).toThrow(/unknown kind/);
    expect(() => parsePeriodReport("kind,amount\n")).toThrow(PeriodReportError);
  });
});
