import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parsePeriodReport } from "../../backend-bridge/seqr/period-report.ts";
import {
  SeqrFaultError,
  SeqrHttpError,
  SeqrInvalidRequestError,
  SeqrResultError,
} from "../../backend-bridge/seqr/seqr-errors.ts";
import { SeqrSoapClient } from "../../backend-bridge/seqr/soap-client.ts";
import {
  customer,
  type Kit,
  resellerUser,
  reservationInvoice,
  startKit,
  terminal,
  vendedInvoice,
} from "./seqr-test-kit.ts";

/** Every operation and every documented error, client <-> sandbox over real HTTP. */

let kit: Kit;
beforeEach(async () => {
  kit = await startKit();
});
afterEach(async () => {
  await kit.close();
});

async function expectResult(promise: Promise<unknown>, code: number, name: string): Promise<SeqrResultError> {
  const error = await promise.then(
    () => undefined,
    (failure: unknown) => failure,
  );
  expect(error).toBeInstanceOf(SeqrResultError);
  const result = error as SeqrResultError;
  expect(result.resultCode).toBe(code);
  expect(result.resultName).toBe(name);
  expect(result.clientReference).toMatch(/^[0-9a-f]{32}$/);
  return result;
}

/** A client without the reservation memory of `kit.client`, to reach the sandbox's own checks. */
function freshClient(overrides: Partial<ConstructorParameters<typeof SeqrSoapClient>[0]> = {}): SeqrSoapClient {
  return new SeqrSoapClient({
    endpointUrl: kit.sandbox.soapUrl,
    terminalId: terminal.id,
    password: terminal.password,
    clientId: "Acme Vending 1.0",
    resellerUser,
    ...overrides,
  });
}

async function reserved(): Promise<string> {
  const { invoiceReference } = await kit.client.sendInvoice(reservationInvoice());
  kit.sandbox.app.confirm(invoiceReference, customer);
  const status = await kit.client.getPaymentStatus(invoiceReference, 0);
  expect(status).toEqual({ status: "RESERVED", version: 1 });
  return invoiceReference;
}

describe("every operation succeeds with the real semantics", () => {
  it("runs the UPS lifecycle: send, status, update, commit below the reservation, PAID with ersReference", async () => {
    const sent = await kit.client.sendInvoice(reservationInvoice());
    expect(sent.invoiceReference).toMatch(/^\d{13}$/);
    expect(sent.invoiceQRCode).toBe(`HTTP://SEQR.SE/R${sent.invoiceReference}`);
    expect(await kit.client.getPaymentStatus(sent.invoiceReference, 0)).toEqual({ status: "ISSUED", version: 0 });

    kit.sandbox.app.confirm(sent.invoiceReference, customer);
    expect(await kit.client.getPaymentStatus(sent.invoiceReference, 0)).toEqual({ status: "RESERVED", version: 1 });

    await kit.client.updateInvoice(sent.invoiceReference, vendedInvoice([150, 200]));
    const view = kit.sandbox.app.invoice(sent.invoiceReference);
    expect(view.rows.map((row) => [row.description, row.amount])).toEqual([
      ["Item 1", "1.50"],
      ["Item 2", "2.00"],
    ]);
    expect(view.total.text).toBe("3.50 EUR");
    expect(view.version).toBe(2);

    const committed = await kit.client.commitReservation(sent.invoiceReference, { minor: 350, currency: "EUR" });
    expect(committed.ersReference).toMatch(/^\d{25}$/);
    const paid = await kit.client.getPaymentStatus(sent.invoiceReference, 2);
    expect(paid.status).toBe("PAID");
    expect(paid.version).toBe(3);
    expect(paid.ersReference).toBe(committed.ersReference);
    expect(paid.receipt).toMatchObject({
      paymentReference: committed.ersReference,
      invoiceReference: sent.invoiceReference,
    });
    expect(kit.sandbox.ledger.get(sent.invoiceReference)?.paid).toEqual({ minor: 350, currency: "EUR" });
  });

  it("cancels an ISSUED and a RESERVED invoice", async () => {
    const issued = await kit.client.sendInvoice(reservationInvoice());
    await kit.client.cancelInvoice(issued.invoiceReference);
    expect(await kit.client.getPaymentStatus(issued.invoiceReference, 0)).toEqual({ status: "CANCELED", version: 1 });

    const reference = await reserved();
    await kit.client.cancelInvoice(reference);
    expect((await kit.client.getPaymentStatus(reference, 1)).status).toBe("CANCELED");
    expect(kit.sandbox.ledger.get(reference)?.reserved).toBeUndefined();
  });

  it("refunds part of a payment, then refuses refunds beyond it (98) and unknown payments (23)", async () => {
    const reference = await reserved();
    const { ersReference } = await kit.client.commitReservation(reference, { minor: 500, currency: "EUR" });
    const refund = await kit.client.refundPayment(ersReference!, vendedInvoice([200]));
    expect(refund.ersReference).toMatch(/^\d{25}$/);
    expect(refund.ersReference).not.toBe(ersReference);
    await expectResult(
      kit.client.refundPayment(ersReference!, vendedInvoice([301])),
      98,
      "SUM_OF_REFUNDS_CAN_NOT_BE_MORE_THAN_ORIGINAL_TRANSACTION",
    );
    await expectResult(
      kit.client.refundPayment("2015102910184861801032678", vendedInvoice([1])),
      23,
      "INVALID_ERS_REFERENCE",
    );
  });

  it("submits a payment receipt", async () => {
    const reference = await reserved();
    const { ersReference } = await kit.client.commitReservation(reference, { minor: 100, currency: "EUR" });
    await kit.client.submitPaymentReceipt(ersReference!, {
      mimeType: "text/html",
      data: Buffer.from("<p>Thanks</p>"),
      type: "PAYMENT_RECEIPT",
    });
    expect(kit.sandbox.ledger.get(reference)?.receipts).toMatchObject([
      { mimeType: "text/html", receiptType: "PAYMENT_RECEIPT", bytes: 13 },
    ]);
  });

  it("marks a transaction period with the RESELLERUSER principal", async () => {
    const { transactionPeriodId } = await kit.client.markTransactionPeriod({ note: "closing" });
    expect(transactionPeriodId).toMatch(/^\d{25}$/);
    const call = kit.sandbox.soap.calls().at(-1);
    expect(call).toMatchObject({ operation: "markTransactionPeriod", principalId: resellerUser.id, resultCode: 0 });
  });

  it("reports a closed period's payments and refunds from the sandbox's book, and what a test planted in it", async () => {
    const before = await reserved();
    await kit.client.commitReservation(before, { minor: 100, currency: "EUR" });
    const first = await kit.client.markTransactionPeriod();
    const reference = await reserved();
    const { ersReference } = await kit.client.commitReservation(reference, { minor: 500, currency: "EUR" });
    const refund = await kit.client.refundPayment(ersReference!, vendedInvoice([200]));
    kit.sandbox.ledger.periods.plantPayment({
      ersReference: "2026120300000000099999999",
      invoiceReference: "1",
      clientInvoiceId: "not-ours",
      terminalId: terminal.id,
      amountMinor: 999,
      currency: "EUR",
    });
    const { transactionPeriodId } = await kit.client.markTransactionPeriod();
    const { report } = await kit.client.executeReport("Reconciliation/Shop.xml", { transactionPeriodId });
    expect(report.mimeType).toBe("text/csv");
    const read = parsePeriodReport(report.content);
    expect(read.payments.map((payment) => [payment.ersReference, payment.amountMinor])).toEqual([
      [ersReference, 500],
      ["2026120300000000099999999", 999],
    ]);
    expect(read.refunds).toMatchObject([
      { ersReference: refund.ersReference, paymentErsReference: ersReference, amountMinor: 200, currency: "EUR" },
    ]);
    const earlier = parsePeriodReport(
      (await kit.client.executeReport("Reconciliation/Shop.xml", { transactionPeriodId: first.transactionPeriodId }))
        .report.content,
    );
    expect(earlier.payments.map((payment) => payment.amountMinor)).toEqual([100]);
    await expectResult(
      kit.client.executeReport("Reconciliation/Shop.xml", { transactionPeriodId: "1" }),
      10,
      "REJECTED_BUSINESS_LOGIC",
    );
    expect(kit.sandbox.soap.calls().at(-1)).toMatchObject({ operation: "executeReport", principalId: resellerUser.id });
  });

  it("records which caller made each call (the clientId of its ClientContext)", async () => {
    await freshClient({ clientId: "bridge instance 2" }).getPaymentStatus(await reserved(), 1);
    const clients = kit.sandbox.soap.calls().map((call) => [call.operation, call.clientId]);
    expect(clients.slice(-2)).toEqual([
      ["getPaymentStatus", "Acme Vending 1.0"],
      ["getPaymentStatus", "bridge instance 2"],
    ]);
  });

  it("debits at once in IMMEDIATE_DEBIT mode", async () => {
    const { invoiceReference } = await kit.client.sendInvoice(
      reservationInvoice({ paymentMode: "IMMEDIATE_DEBIT", commitReservationTimeoutSeconds: undefined }),
    );
    kit.sandbox.app.confirm(invoiceReference, customer);
    const status = await kit.client.getPaymentStatus(invoiceReference, 0);
    expect(status.status).toBe("PAID");
    expect(status.ersReference).toMatch(/^\d{25}$/);
  });
});

describe("every listed error is a typed SeqrResultError with its code", () => {
  it("20 AUTHENTICATION_FAILED for a wrong password", async () => {
    const client = freshClient({ password: "wrong-password" });
    await expectResult(client.sendInvoice(reservationInvoice()), 20, "AUTHENTICATION_FAILED");
    client.close();
  });

  it("29 INVALID_INITIATOR_PRINCIPAL_ID for an unknown terminal", async () => {
    const client = freshClient({ terminalId: "ffffffffffffffffffffffffffffffff" });
    await expectResult(client.getPaymentStatus("1397240460668", 0), 29, "INVALID_INITIATOR_PRINCIPAL_ID");
    client.close();
  });

  it("37 INITIATOR_PRINCIPAL_NOT_FOUND for an unknown reseller user, 20 for its wrong password", async () => {
    const unknown = freshClient({ resellerUser: { ...resellerUser, userId: "1111" } });
    await expectResult(unknown.markTransactionPeriod(), 37, "INITIATOR_PRINCIPAL_NOT_FOUND");
    unknown.close();
    const wrong = freshClient({ resellerUser: { ...resellerUser, password: "nope" } });
    await expectResult(wrong.markTransactionPeriod(), 20, "AUTHENTICATION_FAILED");
    wrong.close();
  });

  it("54 INVALID_INVOICE_REFERENCE for an unknown invoice, on every reference-based call", async () => {
    const unknown = "1397240460668";
    await expectResult(kit.client.getPaymentStatus(unknown, 0), 54, "INVALID_INVOICE_REFERENCE");
    await expectResult(kit.client.updateInvoice(unknown, reservationInvoice()), 54, "INVALID_INVOICE_REFERENCE");
    await expectResult(
      kit.client.commitReservation(unknown, { minor: 1, currency: "EUR" }),
      54,
      "INVALID_INVOICE_REFERENCE",
    );
    await expectResult(kit.client.cancelInvoice(unknown), 54, "INVALID_INVOICE_REFERENCE");
  });

  it("54 for another terminal's invoice", async () => {
    await kit.close();
    kit = await startKit({
      terminals: [
        { ...terminal, currency: "EUR" },
        { id: "other-terminal", password: "other-pw", currency: "EUR" },
      ],
    });
    const { invoiceReference } = await kit.client.sendInvoice(reservationInvoice());
    const other = freshClient({ terminalId: "other-terminal", password: "other-pw" });
    await expectResult(other.getPaymentStatus(invoiceReference, 0), 54, "INVALID_INVOICE_REFERENCE");
    other.close();
  });

  it("49 INVALID_INVOICE_DATA for a currency the terminal does not take and for an update above the reservation", async () => {
    await expectResult(
      kit.client.sendInvoice(
        reservationInvoice({
          rows: [{ description: "Reservation", quantity: 1, total: { minor: 2000, currency: "SEK" } }],
          total: { minor: 2000, currency: "SEK" },
        }),
      ),
      49,
      "INVALID_INVOICE_DATA",
    );
    const reference = await reserved();
    const client = freshClient();
    await expectResult(client.updateInvoice(reference, vendedInvoice([1500, 600])), 49, "INVALID_INVOICE_DATA");
    client.close();
    expect(kit.sandbox.app.invoice(reference).total.minor).toBe(2000);
  });

  it("49 for a preliminary-amount invoice without commitReservationTimeout", async () => {
    await expectResult(
      kit.client.sendInvoice(reservationInvoice({ commitReservationTimeoutSeconds: undefined })),
      49,
      "INVALID_INVOICE_DATA",
    );
  });

  it("64 INVALID_NOTIFICATION_URL for a notification URL that is not http(s)", async () => {
    await expectResult(
      kit.client.sendInvoice(reservationInvoice({ notificationUrl: "ftp://reseller.example/notify" })),
      64,
      "INVALID_NOTIFICATION_URL",
    );
    await expectResult(
      kit.client.sendInvoice(reservationInvoice({ notificationUrl: "reseller.example/notify" })),
      64,
      "INVALID_NOTIFICATION_URL",
    );
  });

  it("50 CANNOT_CANCEL_PAID_INVOICE and 95 INVOICE_ALREADY_CANCELED", async () => {
    const paid = await reserved();
    await kit.client.commitReservation(paid, { minor: 100, currency: "EUR" });
    await expectResult(kit.client.cancelInvoice(paid), 50, "CANNOT_CANCEL_PAID_INVOICE");

    const { invoiceReference } = await kit.client.sendInvoice(reservationInvoice());
    await kit.client.cancelInvoice(invoiceReference);
    await expectResult(kit.client.cancelInvoice(invoiceReference), 95, "INVOICE_ALREADY_CANCELED");
  });

  it("96 INVOICE_STATE_NOT_RESERVED for a commit on an ISSUED, a CANCELED and a PAID invoice", async () => {
    const { invoiceReference } = await kit.client.sendInvoice(reservationInvoice());
    await expectResult(
      kit.client.commitReservation(invoiceReference, { minor: 100, currency: "EUR" }),
      96,
      "INVOICE_STATE_NOT_RESERVED",
    );
    await kit.client.cancelInvoice(invoiceReference);
    await expectResult(
      freshClient().commitReservation(invoiceReference, { minor: 100, currency: "EUR" }),
      96,
      "INVOICE_STATE_NOT_RESERVED",
    );
    const paid = await reserved();
    await kit.client.commitReservation(paid, { minor: 100, currency: "EUR" });
    await expectResult(
      freshClient().commitReservation(paid, { minor: 100, currency: "EUR" }),
      96,
      "INVOICE_STATE_NOT_RESERVED",
    );
    expect(kit.sandbox.ledger.get(paid)?.paid?.minor).toBe(100);
  });

  it("11 REJECTED_AMOUNT for a commit above the reservation; the invoice stays RESERVED", async () => {
    const reference = await reserved();
    const client = freshClient();
    await expectResult(client.commitReservation(reference, { minor: 2001, currency: "EUR" }), 11, "REJECTED_AMOUNT");
    await expectResult(client.commitReservation(reference, { minor: 0, currency: "EUR" }), 11, "REJECTED_AMOUNT");
    client.close();
    expect((await kit.client.getPaymentStatus(reference, 1)).status).toBe("RESERVED");
    expect(kit.sandbox.ledger.get(reference)?.paid).toBeUndefined();
  });

  it("90 SYSTEM_ERROR and 94 SERVICE_UNAVAILABLE when injected, state unchanged", async () => {
    kit.sandbox.faults.addCallFault({ operation: "sendInvoice", effect: { kind: "result-code", code: 90 } });
    const error = await expectResult(kit.client.sendInvoice(reservationInvoice()), 90, "SYSTEM_ERROR");
    expect(error.transient).toBe(true);
    expect(kit.sandbox.ledger.list()).toHaveLength(0);

    const reference = await reserved();
    kit.sandbox.faults.addCallFault({ invoiceReference: reference, effect: { kind: "result-code", code: 94 } });
    await expectResult(
      kit.client.commitReservation(reference, { minor: 100, currency: "EUR" }),
      94,
      "SERVICE_UNAVAILABLE",
    );
    expect((await kit.client.getPaymentStatus(reference, 1)).status).toBe("RESERVED");
  });
});

describe("the client refuses calls that break a money rule, before sending", () => {
  it("refuses a commit or an update above the reservation it created, floats and negative amounts", async () => {
    const reference = await reserved();
    const callsBefore = kit.sandbox.soap.calls().length;
    await expect(kit.client.commitReservation(reference, { minor: 2001, currency: "EUR" })).rejects.toBeInstanceOf(
      SeqrInvalidRequestError,
    );
    await expect(kit.client.commitReservation(reference, { minor: 1.5, currency: "EUR" })).rejects.toThrow(
      /not an integer number of minor units/,
    );
    await expect(kit.client.commitReservation(reference, { minor: -100, currency: "EUR" })).rejects.toThrow(/negative/);
    await expect(kit.client.commitReservation(reference, { minor: 100, currency: "SEK" })).rejects.toThrow(/in SEK/);
    await expect(kit.client.updateInvoice(reference, vendedInvoice([1500, 600]))).rejects.toBeInstanceOf(
      SeqrInvalidRequestError,
    );
    await expect(
      kit.client.sendInvoice(reservationInvoice({ total: { minor: 1999, currency: "EUR" } })),
    ).rejects.toThrow(/not the sum of the rows/);
    expect(kit.sandbox.soap.calls().length).toBe(callsBefore);
  });
});

describe("transport failures from the sandbox are distinct types", () => {
  it("HTTP 500 without a fault -> SeqrHttpError; an injected SOAP Fault -> SeqrFaultError", async () => {
    kit.sandbox.faults.addCallFault({ operation: "getPaymentStatus", effect: { kind: "http-status", status: 500 } });
    const http = await kit.client.getPaymentStatus("1", 0).catch((error: unknown) => error);
    expect(http).toBeInstanceOf(SeqrHttpError);
    expect((http as SeqrHttpError).status).toBe(500);

    kit.sandbox.faults.addCallFault({ effect: { kind: "soap-fault", faultString: "Database down" } });
    const fault = await kit.client.getPaymentStatus("1", 0).catch((error: unknown) => error);
    expect(fault).toBeInstanceOf(SeqrFaultError);
    expect(fault).toMatchObject({ faultCode: "Server", faultString: "Database down", httpStatus: 500 });
    expect((fault as SeqrFaultError).outcomeUnknown).toBe(true);
  });

  it("a commit applied behind an injected 500 leaves the money taken: the status shows PAID", async () => {
    const reference = await reserved();
    kit.sandbox.faults.addCallFault({
      operation: "commitReservation",
      when: "after",
      effect: { kind: "http-status", status: 500 },
    });
    const error = await kit.client
      .commitReservation(reference, { minor: 300, currency: "EUR" })
      .catch((failure: unknown) => failure);
    expect((error as SeqrHttpError).outcomeUnknown).toBe(true);
    const status = await kit.client.getPaymentStatus(reference, 1);
    expect(status.status).toBe("PAID");
  });
});

describe("the password never reaches a log or an error", () => {
  it("logs every call, success and failure, without the terminal or reseller password", async () => {
    const reference = await reserved();
    await kit.client.commitReservation(reference, { minor: 100, currency: "EUR" });
    await kit.client.markTransactionPeriod();
    await kit.client.cancelInvoice(reference).catch(() => undefined);
    kit.sandbox.faults.addCallFault({ effect: { kind: "soap-fault" } });
    const failure = await kit.client.getPaymentStatus(reference, 0).catch((error: unknown) => error);

    const log = kit.logLines.join("");
    expect(kit.logLines.length).toBeGreaterThanOrEqual(6);
    expect(log).toContain("SEQR call failed");
    expect(log).not.toContain(terminal.password);
    expect(log).not.toContain(resellerUser.password);
    const serialised = JSON.stringify(failure, Object.getOwnPropertyNames(failure)) + String(failure);
    expect(serialised).not.toContain(terminal.password);
  });
});
