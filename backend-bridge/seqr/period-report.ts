import { formatMinor, isSupportedCurrency, parseDecimalToMinor } from "../../platform/money.ts";

/**
 * The reconciliation report of one closed transaction period, as text: one line per payment or refund SEQR settled.
 * SEQR's own layout of Reconciliation/Shop.xml is not public (seqr-protocol.md §7 names the report, not its columns),
 * so this is our decision, written by the sandbox and read by the bridge; a real layout gets a reader of its own.
 *
 *   kind,ersReference,paymentErsReference,invoiceReference,clientInvoiceId,terminalId,amount,currency
 *   payment,2026120310000000000000001,,1764756000000,P-1,public_test_shop_terminal,1.50,EUR
 *   refund,2026120310050000000000003,2026120310000000000000001,1764756000000,P-1,public_test_shop_terminal,0.50,EUR
 *
 * Amounts are `#.##` by the currency's exponent, read into integer minor units; a line that cannot be read is an
 * error naming the line, never a silently skipped payment.
 */

export interface ReportedPayment {
  ersReference: string;
  invoiceReference: string;
  clientInvoiceId: string;
  terminalId: string;
  amountMinor: number;
  currency: string;
}

export interface ReportedRefund extends ReportedPayment {
  /** The payment it gives money back from. */
  paymentErsReference: string;
}

export interface PeriodReport {
  payments: ReportedPayment[];
  refunds: ReportedRefund[];
}

export const periodReportColumns = [
  "kind",
  "ersReference",
  "paymentErsReference",
  "invoiceReference",
  "clientInvoiceId",
  "terminalId",
  "amount",
  "currency",
] as const;

export class PeriodReportError extends Error {}

export function formatPeriodReport(report: PeriodReport): string {
  const line = (kind: string, entry: ReportedPayment, paymentErsReference: string) =>
    [
      kind,
      entry.ersReference,
      paymentErsReference,
      entry.invoiceReference,
      entry.clientInvoiceId,
      entry.terminalId,
      formatMinor(entry.amountMinor, entry.currency),
      entry.currency,
    ]
      .map(cell)
      .join(",");
  return [
    periodReportColumns.join(","),
    ...report.payments.map((payment) => line("payment", payment, "")),
    ...report.refunds.map((refund) => line("refund", refund, refund.paymentErsReference)),
  ].join("\n");
}

export function parsePeriodReport(text: string): PeriodReport {
  const lines = text.split(/\r?\n/).filter((line) => line.trim() !== "");
  const header = lines.shift()?.split(",") ?? [];
  const index = new Map(header.map((name, position) => [name.trim(), position]));
  const missing = periodReportColumns.filter((name) => !index.has(name));
  if (missing.length > 0) throw new PeriodReportError(`the report has no column ${missing.join(", ")}`);
  const report: PeriodReport = { payments: [], refunds: [] };
  lines.forEach((line, position) => {
    const cells = line.split(",");
    const value = (name: (typeof periodReportColumns)[number]) => (cells[index.get(name) ?? -1] ?? "").trim();
    const where = `report line ${position + 2}`;
    const currency = value("currency");
    if (!isSupportedCurrency(currency)) throw new PeriodReportError(`${where}: unsupported currency "${currency}"`);
    let amountMinor: number;
    try {
      amountMinor = parseDecimalToMinor(value("amount"), currency);
    } catch (error) {
      throw new PeriodReportError(`${where}: ${(error as Error).message}`);
    }
    const ersReference = value("ersReference");
    if (ersReference === "") throw new PeriodReportError(`${where}: no ersReference`);
    const entry: ReportedPayment = {
      ersReference,
      invoiceReference: value("invoiceReference"),
      clientInvoiceId: value("clientInvoiceId"),
      terminalId: value("terminalId"),
      amountMinor,
      currency,
    };
    const kind = value("kind");
    if (kind === "payment") report.payments.push(entry);
    else if (kind === "refund") {
      const paymentErsReference = value("paymentErsReference");
      if (paymentErsReference === "") throw new PeriodReportError(`${where}: a refund without its payment`);
      report.refunds.push({ ...entry, paymentErsReference });
    } else throw new PeriodReportError(`${where}: unknown kind "${kind}"`);
  });
  return report;
}

/** Our ids never hold commas; a value that did would shift every column after it, so it is refused. */
function cell(value: string): string {
  if (value.includes(",") || value.includes("\n")) throw new PeriodReportError(`"${value}" cannot be a report cell`);
  return value;
}
