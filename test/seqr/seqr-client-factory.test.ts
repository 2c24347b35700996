import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createSeqrClient } from "../../backend-bridge/seqr/seqr-client-factory.ts";
import { SeqrTimeoutError } from "../../backend-bridge/seqr/seqr-errors.ts";
import { silentLogger } from "../../platform/logger.ts";
import { type Kit, resellerUser, reservationInvoice, startKit, terminal } from "./seqr-test-kit.ts";

/**
 * The client as the bridge composes it. A sendInvoice that SEQR answers after requestTimeoutMs must still deliver its
 * reference (issue 15, defect 7): the purchase has answered its caller by then and cancels that invoice, which it can
 * only do if the connection was not dropped. Every other call keeps requestTimeoutMs.
 */

let kit: Kit;
beforeEach(async () => {
  kit = await startKit();
});
afterEach(async () => {
  await kit.close();
});

function composedClient(requestTimeoutMs: number) {
  return createSeqrClient(
    {
      endpointUrl: kit.sandbox.soapUrl,
      terminalId: terminal.id,
      password: terminal.password,
      clientId: "Acme Vending 1.0",
      channel: "WS",
      requestTimeoutMs,
      commitReservationTimeoutSeconds: 300,
    } as Parameters<typeof createSeqrClient>[0],
    { logger: silentLogger() },
  );
}

describe("the SEQR client as the bridge composes it", () => {
  it("still receives a sendInvoice answered after requestTimeoutMs, so a late invoice can be cancelled", async () => {
    kit.sandbox.faults.addCallFault({ operation: "sendInvoice", effect: { kind: "latency", ms: 1_500 } });
    const client = composedClient(300);
    try {
      const sent = await client.sendInvoice(reservationInvoice());
      expect(sent.invoiceReference).toMatch(/\S/);
      await client.cancelInvoice(sent.invoiceReference);
      expect(kit.sandbox.ledger.get(sent.invoiceReference)?.status).toBe("CANCELED");
    } finally {
      client.close();
    }
  });

  it("keeps requestTimeoutMs for the other calls", async () => {
    const client = composedClient(300);
    try {
      const { invoiceReference } = await client.sendInvoice(reservationInvoice());
      kit.sandbox.faults.addCallFault({ operation: "getPaymentStatus", effect: { kind: "latency", ms: 1_500 } });
      await expect(client.getPaymentStatus(invoiceReference, 0)).rejects.toBeInstanceOf(SeqrTimeoutError);
    } finally {
      client.close();
    }
  });

  it("closes a period as the RESELLERUSER of seqr.resellerUser, and refuses to without one", async () => {
    const config = {
      endpointUrl: kit.sandbox.soapUrl,
      terminalId: terminal.id,
      password: terminal.password,
      clientId: "Acme Vending 1.0",
      channel: "WS",
      requestTimeoutMs: 2_000,
      commitReservationTimeoutSeconds: 300,
    } as Parameters<typeof createSeqrClient>[0];
    const withUser = createSeqrClient({ ...config, resellerUser }, { logger: silentLogger() });
    const without = createSeqrClient(config, { logger: silentLogger() });
    try {
      expect((await withUser.markTransactionPeriod()).transactionPeriodId).toMatch(/^\d{25}$/);
      await expect(without.executeReport("Reconciliation/Shop.xml")).rejects.toThrow(/seqr\.resellerUser/);
    } finally {
      withUser.close();
      without.close();
    }
  });
});
