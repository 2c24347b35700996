import { randomBytes } from "node:crypto";
import { afterEach, beforeEach } from "vitest";
import type { Store } from "../../../backend-bridge/store/store.ts";
import { customer, type Kit, reservationInvoice, startKit } from "../../seqr/seqr-test-kit.ts";
import { createTestStore, type StoreKind, type TestStore } from "./test-stores.ts";

/**
 * A purchase that SEQR really took money for: reserved and committed at the sandbox (which gives the ersReference)
 * and written to the store as committed with that reference, as the outbox leaves it after a commit.
 */
export async function paidPurchase(
  kit: Kit,
  store: Store,
  options: { committedMinor: number; machineId?: string; at?: number },
): Promise<{ sessionId: string; ersReference: string; invoiceReference: string }> {
  const sessionId = `s-${randomBytes(6).toString("hex")}`;
  const machineId = options.machineId ?? "M1";
  const at = options.at ?? Date.now();
  const { invoiceReference } = await kit.client.sendInvoice(reservationInvoice({ clientInvoiceId: sessionId }));
  kit.sandbox.app.confirm(invoiceReference, customer);
  await kit.client.getPaymentStatus(invoiceReference, 0);
  const committed = await kit.client.commitReservation(invoiceReference, {
    minor: options.committedMinor,
    currency: "EUR",
  });
  const ersReference = committed.ersReference ?? (await kit.client.getPaymentStatus(invoiceReference, 1)).ersReference;
  if (!ersReference) throw new Error("the sandbox gave no ersReference");
  await store.claimMachine({
    sessionId,
    machineId,
    amountMinor: 2_000,
    currency: "EUR",
    msisdn: null,
    notifySecret: randomBytes(8).toString("hex"),
    at,
  });
  const moved = await store.transition(
    sessionId,
    ["claimed"],
    "committed",
    {
      invoiceReference,
      ersReference,
      billedMinor: options.committedMinor,
      committedMinor: options.committedMinor,
      closedAt: at,
    },
    { reason: "reservation-committed", at },
  );
  if (!moved) throw new Error("could not store the committed purchase");
  return { sessionId, ersReference, invoiceReference };
}

/** A fresh SEQR sandbox kit and test store of `kind` for every test of the enclosing describe. */
export function kitAndStorePerTest(kind: StoreKind): { readonly kit: Kit; readonly t: TestStore } {
  const current = {} as { kit: Kit; t: TestStore };
  beforeEach(async () => {
    current.kit = await startKit();
    current.t = await createTestStore(kind);
  });
  afterEach(async () => {
    await current.kit.close();
    await current.t.cleanup();
  });
  return current;
}
