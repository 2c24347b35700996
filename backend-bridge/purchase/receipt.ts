import { formatMinor } from "../../platform/money.ts";
import type { Purchase, VendRecord } from "../store/store.ts";
import { vendedRows } from "./invoice.ts";

/**
 * The customer's receipt for a committed purchase (submitPaymentReceipt, seqr-protocol.md §6 receiptDocument): the
 * billed rows as updateInvoice showed them, the amount taken and SEQR's payment reference, as plain text.
 */
export interface PaymentReceipt {
  mimeType: string;
  data: Buffer;
  type: "PAYMENT_RECEIPT";
}

export function paymentReceipt(purchase: Purchase, vends: readonly VendRecord[], ersReference: string): PaymentReceipt {
  const { rows } = vendedRows(purchase, vends);
  const money = (minor: number) => `${formatMinor(minor, purchase.currency)} ${purchase.currency}`;
  const paid = purchase.committedMinor ?? purchase.billedMinor ?? 0;
  const lines = [
    `Vending ${purchase.machineId}`,
    ...rows.map((row) => `${row.quantity} x ${row.description}  ${money(row.total.minor)}`),
    `Paid  ${money(paid)}`,
    `SEQR payment ${ersReference}`,
  ];
  return { mimeType: "text/plain", data: Buffer.from(`${lines.join("\n")}\n`, "utf8"), type: "PAYMENT_RECEIPT" };
}
