import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { SeqrResultError, SeqrTimeoutError } from "../../backend-bridge/seqr/seqr-errors.ts";
import { customer, type Kit, reservationInvoice, startKit } from "./seqr-test-kit.ts";

/**
 * SEQR's clocks, driven by fake timers through the sandbox's injected clock (systemClock calls the faked globals):
 * the 20-second rule (a confirmed reservation whose status is not fetched in time is reversed) and the commit
 * window (a reservation not committed within commitReservationTimeout expires). The HTTP traffic stays real.
 */

let kit: Kit;
beforeEach(async () => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
  vi.setSystemTime(new Date("2026-05-02T10:00:00Z"));
  kit = await startKit();
});
afterEach(async () => {
  await kit.close();
  vi.useRealTimers();
});

async function confirmedReservation(commitSeconds = 600): Promise<string> {
  const { invoiceReference } = await kit.client.sendInvoice(
    reservationInvoice({ commitReservationTimeoutSeconds: commitSeconds }),
  );
  kit.sandbox.app.confirm(invoiceReference, customer);
  return invoiceReference;
}

describe("the 20-second rule", () => {
  it("reverses a RESERVED invoice whose status is not fetched within 20 s of the confirmation", async () => {
    const reference = await confirmedReservation();
    await vi.advanceTimersByTimeAsync(19_999);
    expect(kit.sandbox.ledger.get(reference)?.status).toBe("RESERVED");
    await vi.advanceTimersByTimeAsync(1);
    expect(await kit.client.getPaymentStatus(reference, 1)).toEqual({ status: "CANCELED", version: 2 });
    expect(kit.sandbox.ledger.get(reference)?.history.at(-1)?.event).toMatch(
      /reversed: status not fetched within 20000/,
    );
    const commit = await kit.client
      .commitReservation(reference, { minor: 100, currency: "EUR" })
      .catch((error: unknown) => error);
    expect(commit).toBeInstanceOf(SeqrResultError);
    expect((commit as SeqrResultError).resultCode).toBe(96);
  });

  it("keeps a reservation whose status was fetched in time", async () => {
    const reference = await confirmedReservation();
    await vi.advanceTimersByTimeAsync(19_000);
    expect((await kit.client.getPaymentStatus(reference, 0)).status).toBe("RESERVED");
    await vi.advanceTimersByTimeAsync(60_000);
    expect((await kit.client.getPaymentStatus(reference, 1)).status).toBe("RESERVED");
    expect((await kit.client.commitReservation(reference, { minor: 120, currency: "EUR" })).ersReference).toMatch(
      /^\d{25}$/,
    );
  });

  it("also reverses an immediate debit nobody asked about, giving the money back", async () => {
    const { invoiceReference } = await kit.client.sendInvoice(
      reservationInvoice({ paymentMode: "IMMEDIATE_DEBIT", commitReservationTimeoutSeconds: undefined }),
    );
    kit.sandbox.app.confirm(invoiceReference, customer);
    expect(kit.sandbox.ledger.get(invoiceReference)?.status).toBe("PAID");
    await vi.advanceTimersByTimeAsync(20_000);
    const invoice = kit.sandbox.ledger.get(invoiceReference)!;
    expect(invoice.status).toBe("CANCELED");
    expect(invoice.paid).toBeUndefined();
  });

  it("honours a configured ackDeadlineMs", async () => {
    await kit.close();
    kit = await startKit({ ackDeadlineMs: 5_000 });
    const reference = await confirmedReservation();
    await vi.advanceTimersByTimeAsync(5_000);
    expect((await kit.client.getPaymentStatus(reference, 1)).status).toBe("CANCELED");
  });
});

describe("the commit window (commitReservationTimeout)", () => {
  it("expires an uncommitted reservation; a late commit gets 58 PAYMENT_EXPIRED", async () => {
    const reference = await confirmedReservation(300);
    expect((await kit.client.getPaymentStatus(reference, 0)).status).toBe("RESERVED");
    await vi.advanceTimersByTimeAsync(299_999);
    expect(kit.sandbox.ledger.get(reference)?.status).toBe("RESERVED");
    await vi.advanceTimersByTimeAsync(1);
    expect(await kit.client.getPaymentStatus(reference, 1)).toEqual({ status: "EXPIRED", version: 2 });
    const late = await kit.client
      .commitReservation(reference, { minor: 100, currency: "EUR" })
      .catch((error: unknown) => error);
    expect(late).toMatchObject({ resultCode: 58, resultName: "PAYMENT_EXPIRED" });
    expect(kit.sandbox.ledger.get(reference)?.reserved).toBeUndefined();
  });

  it("does not expire a reservation committed in time", async () => {
    const reference = await confirmedReservation(300);
    await kit.client.getPaymentStatus(reference, 0);
    await vi.advanceTimersByTimeAsync(299_000);
    await kit.client.commitReservation(reference, { minor: 100, currency: "EUR" });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(kit.sandbox.ledger.get(reference)?.status).toBe("PAID");
  });
});

describe("the client's per-call timeout runs on the same clock", () => {
  it("injected latency beyond the timeout gives SeqrTimeoutError, without waiting in real time", async () => {
    await kit.close();
    kit = await startKit({}, { requestTimeoutMs: 3_000 });
    kit.sandbox.faults.addCallFault({ operation: "getPaymentStatus", effect: { kind: "latency", ms: 10_000 } });
    const pending = kit.client.getPaymentStatus("1", 0).catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(3_000);
    expect(await pending).toBeInstanceOf(SeqrTimeoutError);
    await vi.advanceTimersByTimeAsync(10_000);
  });
});
