/**
 * SEQR sandbox throughput: full UPS invoice lifecycles over HTTP keep-alive, client and sandbox in one process.
 * One lifecycle = 6 HTTP calls: sendInvoice, customer confirm (POST /app/api/.../confirm), getPaymentStatus,
 * updateInvoice (2 rows), commitReservation, getPaymentStatus (PAID). Reports calls/s and per-call p50/p99.
 * Run: npx tsx bench/seqr-sandbox.ts [lifecycles=2000] [concurrency=1,8,32]
 */
import { Agent, request } from "node:http";
import { build, type Histogram } from "hdr-histogram-js";
import { startSeqrSandbox } from "../backend-bridge/sandbox/seqr-sandbox.ts";
import type { Invoice } from "../backend-bridge/seqr/seqr-api.ts";
import { SeqrSoapClient } from "../backend-bridge/seqr/soap-client.ts";

const lifecycles = Number(process.argv[2] ?? 2_000);
const concurrencies = (process.argv[3] ?? "1,8,32").split(",").map(Number);
const terminal = { id: "0123456789abcdef0123456789abcdef", password: "bench-password" };
const customer = { msisdn: "46700000001", pin: "1234" };

const reservation: Invoice = {
  paymentMode: "RESERVATION_REQUIRED_PRELIMINARY_AMOUNT",
  title: "Vending M0042",
  clientInvoiceId: "P-1",
  cashierId: "M0042",
  rows: [{ description: "Reservation", quantity: 1, total: { minor: 2_000, currency: "EUR" } }],
  total: { minor: 2_000, currency: "EUR" },
  commitReservationTimeoutSeconds: 600,
};
const vended: Invoice = {
  ...reservation,
  rows: [
    { description: "Cola 0.33 l", sku: "COLA-033", quantity: 1, total: { minor: 200, currency: "EUR" } },
    { description: "Chocolate bar", sku: "CHOC-50", quantity: 1, total: { minor: 120, currency: "EUR" } },
  ],
  total: { minor: 320, currency: "EUR" },
};

const sandbox = await startSeqrSandbox({
  terminals: [{ ...terminal, currency: "EUR" }],
  customers: [customer],
  // The bench holds thousands of reservations; the 20-s rule is satisfied by the status call anyway.
  ackDeadlineMs: 600_000,
});
const appAgent = new Agent({ keepAlive: true, maxSockets: 64 });

function confirm(invoiceReference: string): Promise<void> {
  const body = JSON.stringify(customer);
  return new Promise((resolve, reject) => {
    const call = request(
      `${sandbox.url}/app/api/invoices/${invoiceReference}/confirm`,
      {
        method: "POST",
        agent: appAgent,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
      },
      (response) => {
        response.resume();
        response.on("end", () =>
          response.statusCode === 200 ? resolve() : reject(new Error(`confirm ${response.statusCode}`)),
        );
      },
    );
    call.on("error", reject);
    call.end(body);
  });
}

async function timed<T>(histogram: Histogram, action: () => Promise<T>): Promise<T> {
  const started = process.hrtime.bigint();
  const result = await action();
  histogram.recordValue(Number(process.hrtime.bigint() - started) / 1000); // µs
  return result;
}

async function run(concurrency: number): Promise<Record<string, string>> {
  const client = new SeqrSoapClient({
    endpointUrl: sandbox.soapUrl,
    terminalId: terminal.id,
    password: terminal.password,
    clientId: "bench",
    requestTimeoutMs: 30_000,
  });
  const histogram = build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000,
    numberOfSignificantValueDigits: 3,
  });
  let remaining = lifecycles;
  let calls = 0;
  const lifecycle = async () => {
    const { invoiceReference } = await timed(histogram, () => client.sendInvoice(reservation));
    await timed(histogram, () => confirm(invoiceReference));
    const reserved = await timed(histogram, () => client.getPaymentStatus(invoiceReference, 0));
    if (reserved.status !== "RESERVED") throw new Error(`expected RESERVED, got ${reserved.status}`);
    await timed(histogram, () => client.updateInvoice(invoiceReference, vended));
    await timed(histogram, () => client.commitReservation(invoiceReference, vended.total));
    const paid = await timed(histogram, () => client.getPaymentStatus(invoiceReference, reserved.version));
    if (paid.status !== "PAID") throw new Error(`expected PAID, got ${paid.status}`);
    calls += 6;
  };
  const worker = async () => {
    while (remaining > 0) {
      remaining -= 1;
      await lifecycle();
    }
  };
  const started = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  client.close();
  return {
    concurrency: String(concurrency),
    lifecycles: String(lifecycles),
    "calls/s": Math.round(calls / seconds).toLocaleString("en"),
    "lifecycles/s": Math.round(lifecycles / seconds).toLocaleString("en"),
    "p50 ms": (histogram.getValueAtPercentile(50) / 1000).toFixed(2),
    "p99 ms": (histogram.getValueAtPercentile(99) / 1000).toFixed(2),
    "max ms": (histogram.maxValue / 1000).toFixed(2),
  };
}

await run(1); // warm-up
const rows = [];
for (const concurrency of concurrencies) rows.push(await run(concurrency));
console.log(`SEQR sandbox, full invoice lifecycle over HTTP keep-alive (6 calls each), Node ${process.version}`);
console.table(rows);
appAgent.destroy();
await sandbox.close();
