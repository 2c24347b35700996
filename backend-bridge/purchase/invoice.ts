import { seqrIssueDate } from "../seqr/issue-date.ts";
import type { Invoice, InvoiceRow } from "../seqr/seqr-api.ts";
import type { Purchase, VendRecord } from "../store/store.ts";

/**
 * The invoices the bridge sends for a purchase. sendInvoice reserves the customer's maximum; each updateInvoice
 * replaces the rows with what was actually vended (one row per product and price) and the new total, which is exactly
 * what commitReservation then takes.
 */

export interface InvoiceContext {
  notificationUrl: string;
  commitReservationTimeoutSeconds: number;
}

/** Printed under the invoice in the app (seqr-protocol.md §6 marks footer required). */
export const invoiceFooter = "Only what the machine vends is charged; the rest of the reservation is released.";

function baseInvoice(purchase: Purchase, context: InvoiceContext): Omit<Invoice, "rows" | "total"> {
  return {
    paymentMode: "RESERVATION_REQUIRED_PRELIMINARY_AMOUNT",
    // The claim's time, taken just before sendInvoice: every updateInvoice repeats sendInvoice's issueDate.
    issueDate: seqrIssueDate(purchase.createdAt),
    title: `Vending ${purchase.machineId}`,
    footer: invoiceFooter,
    clientInvoiceId: purchase.sessionId,
    cashierId: purchase.machineId,
    notificationUrl: context.notificationUrl,
    commitReservationTimeoutSeconds: context.commitReservationTimeoutSeconds,
  };
}

/**
 * sendInvoice: one row for the offered maximum, "Reservation", or the product's name when the customer chose it at the
 * machine first (selection first) and the reservation is its price.
 */
export function reservationInvoice(purchase: Purchase, context: InvoiceContext, productName?: string): Invoice {
  const total = { minor: purchase.amountMinor, currency: purchase.currency };
  return {
    ...baseInvoice(purchase, context),
    rows: [{ description: productName ?? "Reservation", quantity: 1, total }],
    total,
  };
}

/** The vends that are billed: confirmed (`vended`) and in the purchase's currency. */
export function billableVends(purchase: Purchase, vends: readonly VendRecord[]): VendRecord[] {
  return vends.filter((vend) => vend.outcome === "vended" && vend.currency === purchase.currency);
}

export function sumMinor(vends: readonly VendRecord[]): number {
  return vends.reduce((sum, vend) => sum + vend.priceMinor, 0);
}

/** updateInvoice: the vended products, grouped by SKU and unit price, with the new total. */
export function vendedInvoice(purchase: Purchase, vends: readonly VendRecord[], context: InvoiceContext): Invoice {
  return { ...baseInvoice(purchase, context), ...vendedRows(purchase, vends) };
}

/** The billed rows and their total: what updateInvoice shows and the customer's receipt repeats. */
export function vendedRows(purchase: Purchase, vends: readonly VendRecord[]): Pick<Invoice, "rows" | "total"> {
  const groups = new Map<string, { vend: VendRecord; quantity: number }>();
  // A vend billed at nothing (a selection the registry does not know) is flagged, not shown as a free row.
  for (const vend of billableVends(purchase, vends).filter((each) => each.priceMinor > 0)) {
    const key = `${vend.sku ?? vend.selection}\u0000${vend.priceMinor}`;
    const group = groups.get(key);
    if (group) group.quantity += 1;
    else groups.set(key, { vend, quantity: 1 });
  }
  const currency = purchase.currency;
  const rows: InvoiceRow[] = [...groups.values()].map(({ vend, quantity }) => ({
    description: vend.name ?? `Selection ${vend.selection}`,
    ...(vend.sku ? { sku: vend.sku } : {}),
    quantity,
    unitPrice: { minor: vend.priceMinor, currency },
    total: { minor: vend.priceMinor * quantity, currency },
  }));
  let totalMinor = rows.reduce((sum, row) => sum + row.total.minor, 0);
  if (totalMinor > purchase.amountMinor) {
    // Never bill above the reservation (design §4.3): a balancing row, as SEQR allows, brings the total back to it.
    const excess = totalMinor - purchase.amountMinor;
    rows.push({ description: "Above the reservation, not charged", quantity: 1, total: { minor: -excess, currency } });
    totalMinor = purchase.amountMinor;
  }
  return { rows, total: { minor: totalMinor, currency } };
}
