import { describe, expect, it } from "vitest";
import {
  billableVends,
  invoiceFooter,
  reservationInvoice,
  sumMinor,
  vendedInvoice,
} from "../../backend-bridge/purchase/invoice.ts";
import type { Purchase, VendRecord } from "../../backend-bridge/store/store.ts";

/**
 * The invoices the bridge sends, as pure functions: what the customer's app shows and what SEQR takes. The money rule
 * under test: only confirmed vends in the purchase's currency are billed, and never above the reservation.
 */

const context = { notificationUrl: "https://bridge.example/notify/s1", commitReservationTimeoutSeconds: 300 };

const purchase: Purchase = {
  sessionId: "s1",
  machineId: "M7",
  state: "unlocked",
  amountMinor: 500,
  currency: "EUR",
  msisdn: null,
  notifySecret: "secret",
  invoiceReference: "ref-1",
  statusVersion: 0,
  unlockCommandId: null,
  unlockExpiresAt: null,
  ersReference: null,
  endedVendedCount: null,
  endedVendedTotalMinor: null,
  endedUnknownCount: null,
  endReason: null,
  billedMinor: null,
  committedMinor: null,
  reconciliation: null,
  createdAt: Date.UTC(2026, 0, 2, 3, 4, 5),
  updatedAt: 0,
  invoicedAt: null,
  reservedAt: null,
  unlockedAt: null,
  closedAt: null,
  rowVersion: 0,
};

let vendCounter = 0;
function vend(overrides: Partial<VendRecord> = {}): VendRecord {
  vendCounter += 1;
  return {
    sessionId: "s1",
    vendId: `v${vendCounter}`,
    eventId: `e${vendCounter}`,
    selection: "A1",
    sku: "WATER",
    name: "Still water",
    priceMinor: 150,
    currency: "EUR",
    outcome: "vended",
    evidence: "drop-sensor",
    at: 0,
    ...overrides,
  };
}

describe("reservationInvoice", () => {
  it("reserves the offered maximum in one row named Reservation, titled with the machine", () => {
    const invoice = reservationInvoice(purchase, context);
    const total = { minor: 500, currency: "EUR" };
    expect(invoice).toMatchObject({
      paymentMode: "RESERVATION_REQUIRED_PRELIMINARY_AMOUNT",
      title: "Vending M7",
      footer: invoiceFooter,
      clientInvoiceId: "s1",
      cashierId: "M7",
      notificationUrl: context.notificationUrl,
      commitReservationTimeoutSeconds: 300,
      rows: [{ description: "Reservation", quantity: 1, total }],
      total,
    });
  });

  it("names the product chosen first at the machine instead", () => {
    expect(reservationInvoice(purchase, context, "Cola").rows).toEqual([
      { description: "Cola", quantity: 1, total: { minor: 500, currency: "EUR" } },
    ]);
  });
});

describe("billableVends and sumMinor", () => {
  it("bill only vended outcomes in the purchase's currency", () => {
    const billed = vend({ priceMinor: 150 });
    const vends = [billed, vend({ outcome: "failed" }), vend({ outcome: "unknown" }), vend({ currency: "SEK" })];
    expect(billableVends(purchase, vends)).toEqual([billed]);
    expect(sumMinor([vend({ priceMinor: 150 }), vend({ priceMinor: 200 })])).toBe(350);
  });
});

describe("vendedInvoice", () => {
  it("groups by SKU and unit price; a vend with no name is shown by its selection, one with no SKU has no sku", () => {
    const invoice = vendedInvoice(
      purchase,
      [
        vend({ priceMinor: 100 }),
        vend({ priceMinor: 100 }),
        vend({ priceMinor: 120 }),
        vend({ selection: "C3", sku: null, name: null, priceMinor: 90 }),
      ],
      context,
    );
    expect(invoice.rows).toEqual([
      {
        description: "Still water",
        sku: "WATER",
        quantity: 2,
        unitPrice: { minor: 100, currency: "EUR" },
        total: { minor: 200, currency: "EUR" },
      },
      {
        description: "Still water",
        sku: "WATER",
        quantity: 1,
        unitPrice: { minor: 120, currency: "EUR" },
        total: { minor: 120, currency: "EUR" },
      },
      {
        description: "Selection C3",
        quantity: 1,
        unitPrice: { minor: 90, currency: "EUR" },
        total: { minor: 90, currency: "EUR" },
      },
    ]);
    expect(invoice.total).toEqual({ minor: 410, currency: "EUR" });
    expect(invoice.title).toBe("Vending M7");
  });

  it("keeps two selections without a SKU apart even at one price", () => {
    const invoice = vendedInvoice(
      purchase,
      [
        vend({ selection: "C3", sku: null, name: null, priceMinor: 90 }),
        vend({ selection: "C4", sku: null, name: null, priceMinor: 90 }),
      ],
      context,
    );
    expect(invoice.rows.map((row) => [row.description, row.quantity])).toEqual([
      ["Selection C3", 1],
      ["Selection C4", 1],
    ]);
  });

  it("shows no row for a vend billed at nothing, nor for one in another currency", () => {
    const invoice = vendedInvoice(
      purchase,
      [vend({ priceMinor: 0 }), vend({ selection: "B2", sku: "COLA", currency: "SEK" })],
      context,
    );
    expect(invoice.rows).toEqual([]);
    expect(invoice.total).toEqual({ minor: 0, currency: "EUR" });
  });

  it("bills exactly the reservation with no balancing row when the vends add up to it", () => {
    const invoice = vendedInvoice(purchase, [vend({ priceMinor: 250 }), vend({ priceMinor: 250 })], context);
    expect(invoice.rows).toHaveLength(1);
    expect(invoice.total).toEqual({ minor: 500, currency: "EUR" });
  });

  it("never bills above the reservation: a negative balancing row brings the total back to it", () => {
    const invoice = vendedInvoice(purchase, [vend({ priceMinor: 300 }), vend({ priceMinor: 300 })], context);
    expect(invoice.rows[1]).toEqual({
      description: "Above the reservation, not charged",
      quantity: 1,
      total: { minor: -100, currency: "EUR" },
    });
    expect(invoice.total).toEqual({ minor: 500, currency: "EUR" });
    // The rows add up to the total SEQR takes.
    expect(invoice.rows.reduce((sum, row) => sum + row.total.minor, 0)).toBe(500);
  });
});
