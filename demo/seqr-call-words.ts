import type { SeqrSandbox } from "../backend-bridge/sandbox/seqr-sandbox.ts";
import { displayAmount } from "../platform/money.ts";
import type { SeqrCallLookup } from "./flow-feed.ts";

/**
 * The SEQR side of a call the bridge reports done, for the demo's flow view: the sandbox's last successful call of
 * that operation, its invoice and the amount it moved ("invoice 1234: 3.50 EUR paid").
 */
export function sandboxCallLookup(sandbox: () => SeqrSandbox | undefined): SeqrCallLookup {
  return (operation) => {
    const seqr = sandbox();
    if (!seqr) return undefined;
    const call = seqr.soap
      .calls()
      .filter((record) => record.operation === operation && record.resultCode === 0)
      .at(-1);
    const reference = call?.invoiceReference;
    const invoice = reference ? seqr.ledger.get(reference) : undefined;
    if (!reference || !invoice) return undefined;
    const money = (amount: { minor: number; currency: string }) => displayAmount(amount.minor, amount.currency);
    switch (operation) {
      case "commitReservation":
        return `invoice ${reference}: ${invoice.paid ? `${money(invoice.paid)} paid` : "committed"}`;
      case "cancelInvoice":
        return `invoice ${reference} cancelled: nothing charged`;
      case "updateInvoice":
        return `invoice ${reference} now ${money(invoice.total)}`;
      case "sendInvoice":
        return `invoice ${reference} up to ${money(invoice.total)}`;
      default:
        return `invoice ${reference}`;
    }
  };
}
