import { afterEach, describe, expect, it } from "vitest";
import { hasService } from "../helpers/system-tools.ts";
import { FakeFleet } from "./helpers/fake-fleet.ts";
import { Harness, sessionEndedEvent, vendedEvent } from "./helpers/harness.ts";

/**
 * Several bridge instances on one database (design §6: PostgreSQL when the reseller runs more than one), with the
 * events of one session shared between them (shared subscriptions): a `vended` handled by one instance while the
 * other stores `session-ended` must never leave the purchase stuck in `vending` until the commit deadline.
 * PostgreSQL only: several instances on one SQLite file is not a supported set-up (one process, one writer).
 */

describe.runIf(await hasService("PostgreSQL", "127.0.0.1", 5432))(
  "two bridge instances on one PostgreSQL database",
  () => {
    let h: Harness;
    afterEach(async () => {
      await h?.close();
    });

    it("events of one session split across the instances: every purchase commits exactly the vended sum", async () => {
      h = await Harness.start("postgres");
      const otherFleet = new FakeFleet();
      const second = await h.startOtherInstance(otherFleet);
      for (let round = 0; round < 20; round++) {
        const { reference, sessionId } = await h.reservedPurchase();
        await h.fleet.emit("M1", "unlocked", { sessionId, commandId: "x", budgetMinor: 2000, currency: "EUR" });
        await h.fleet.emit("M1", "vended", vendedEvent(sessionId, "v1", 150));
        const ended = sessionEndedEvent(sessionId, 2, 150 + 200 + round);
        // The last vend goes to one instance, the end of the session to the other, at the same time.
        const [vendedBy, endedBy] = round % 2 === 0 ? [otherFleet, h.fleet] : [h.fleet, otherFleet];
        await Promise.all([
          vendedBy.emit("M1", "vended", vendedEvent(sessionId, "v2", 200 + round)),
          endedBy.emit("M1", "session-ended", ended),
        ]);
        // Both outbox workers may hold a lease on the session's rows for a moment: run both until it settles.
        const otherOutbox = second.outbox;
        let purchase = await h.purchaseFor(reference);
        for (const deadline = Date.now() + 2_000; purchase.state !== "committed" && Date.now() < deadline; ) {
          await h.drainOutbox();
          await otherOutbox.runDue();
          await new Promise((resolve) => setTimeout(resolve, 10));
          purchase = await h.purchaseFor(reference);
        }
        expect({ round, state: purchase.state, reconciliation: purchase.reconciliation }).toEqual({
          round,
          state: "committed",
          reconciliation: null,
        });
        expect(purchase.billedMinor).toBe(350 + round);
        expect(h.seqr.invoices.get(reference)?.committed?.minor).toBe(350 + round);
        expect(h.seqr.invoices.get(reference)?.commitCount).toBe(1);
      }
    }, 60_000);
  },
);
