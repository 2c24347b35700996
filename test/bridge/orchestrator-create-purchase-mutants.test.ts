import { expect, it } from "vitest";
import type { Store } from "../../backend-bridge/store/store.ts";
import { capturedLogs } from "../helpers/captured-logs.ts";
import { eventually } from "../helpers/eventually.ts";
import { describeEachStore, type Harness, type StartHarness } from "./helpers/harness.ts";
import { failTransitionsTo, sendInvoiceAnsweredAtDeadline } from "./helpers/orchestrator-faults.ts";

/**
 * createPurchase's edges that the orchestrator's mutation run (issue 16) found untested: the deadline reached exactly
 * at each of its checks, a claim taken away while sendInvoice runs, and a store that keeps failing while the claim is
 * released (the stale-claim timer's retry, and what the operator reads meanwhile).
 */

type Line = Record<string, unknown>;

const body = { token: "M1", amount: 20, currency: "EUR", msisdn: "46701234567" };

async function loggedHarness(start: StartHarness) {
  const { logger, lines } = capturedLogs("info");
  const h = await start({}, { logger });
  const logged = (msg: string): Line[] => lines.filter((line) => line.module === "purchase" && line.msg === msg);
  return { h, logged };
}

/** Runs `before` when the store's `method` is next called, then the method itself. */
function beforeNext<K extends "machineUnavailableReason" | "claimMachine">(
  store: Store,
  method: K,
  before: () => void,
): void {
  const original = store[method].bind(store) as (...args: unknown[]) => Promise<unknown>;
  (store as unknown as Record<string, unknown>)[method] = async (...args: unknown[]) => {
    (store as unknown as Record<string, unknown>)[method] = original;
    const result = await original(...args);
    before();
    return result;
  };
}

async function onlyPurchase(h: Harness) {
  const purchases = await h.store.listPurchases({ machineId: "M1" });
  expect(purchases).toHaveLength(1);
  return purchases[0]!;
}

describeEachStore("orchestrator: createPurchase edges", (start) => {
  it("the deadline reached exactly before the claim: SYSTEM_ERROR, nothing claimed, nothing invoiced", async () => {
    const h = await start();
    beforeNext(h.testStore.store, "machineUnavailableReason", () => h.clock.jump(h.config.timeouts.createPurchaseMs));
    expect((await h.createPurchase(body)).json).toEqual({ errorCode: "SYSTEM_ERROR" });
    expect(await h.store.listPurchases({ machineId: "M1" })).toEqual([]);
    expect(h.seqr.count("sendInvoice")).toBe(0);
  });

  it("the deadline reached exactly during the claim: SYSTEM_ERROR, the claim released, nothing invoiced", async () => {
    const h = await start();
    beforeNext(h.testStore.store, "claimMachine", () => h.clock.jump(h.config.timeouts.createPurchaseMs));
    expect((await h.createPurchase(body)).json).toEqual({ errorCode: "SYSTEM_ERROR" });
    const released = await onlyPurchase(h);
    expect(released.state).toBe("failed");
    const audit = await h.store.listAudit(released.sessionId);
    expect(audit.at(-1)).toMatchObject({ fromState: "claimed", toState: "failed", reason: "createPurchase-deadline" });
    expect(h.seqr.count("sendInvoice")).toBe(0);
    expect(await h.store.holderOf("M1")).toBeUndefined();
  });

  it("sendInvoice answering exactly at the deadline: INVOICING_ERROR, the invoice cancelled, the operator told", async () => {
    const { h, logged } = await loggedHarness(start);
    expect(await sendInvoiceAnsweredAtDeadline(h, body)).toEqual({ errorCode: "INVOICING_ERROR" });
    const reference = h.seqr.only().reference;
    await eventually(async () => {
      await h.drainOutbox();
      expect(h.seqr.only().status).toBe("CANCELED");
    });
    expect((await onlyPurchase(h)).state).toBe("failed");
    expect(h.fleet.commands("payment-pending")).toHaveLength(0);
    expect(logged("sendInvoice answered after the createPurchase deadline; cancelling the invoice")).toEqual([
      expect.objectContaining({ level: "warn", machineId: "M1", invoiceReference: reference }),
    ]);
  });

  it("a claim taken away while sendInvoice runs: SYSTEM_ERROR, the invoice cancelled at once, nothing sent", async () => {
    const { h, logged } = await loggedHarness(start);
    const release = h.seqr.hold("sendInvoice");
    const pending = h.createPurchase(body);
    await eventually(() => expect(h.seqr.count("sendInvoice")).toBe(1));
    const claimed = await onlyPurchase(h);
    const at = h.clock.now();
    await h.store.transition(claimed.sessionId, ["claimed"], "failed", { closedAt: at }, { reason: "operator", at });
    release();
    expect((await pending).json).toEqual({ errorCode: "SYSTEM_ERROR" });
    await eventually(() => expect(h.seqr.only().status).toBe("CANCELED"));
    const reference = h.seqr.only().reference;
    expect(logged("the claim was taken away during sendInvoice; cancelling the invoice")).toEqual([
      expect.objectContaining({ level: "error", sessionId: claimed.sessionId, invoiceReference: reference }),
    ]);
    await h.clock.advance(h.config.timeouts.statusPollIntervalMs);
    expect(h.fleet.commands("payment-pending")).toHaveLength(0);
    expect(h.seqr.count("getPaymentStatus")).toBe(0);
  });

  it("the store failing at each step of a release: logged, and the stale claim retried 5 s later", async () => {
    const { h, logged } = await loggedHarness(start);
    const store = h.testStore.store;
    const { transaction } = store;
    // The invoice reference cannot be stored, nor the claim released at once.
    const restore = failTransitionsTo(store, ["invoiced", "failed"]);
    expect((await h.createPurchase(body)).json).toEqual({ errorCode: "INVOICING_ERROR" });
    restore();
    const claimed = await onlyPurchase(h);
    const reference = h.seqr.only().reference;
    const storeError = expect.objectContaining({ message: "disk I/O error" });
    expect(logged("could not store the invoice reference; cancelling the invoice")).toEqual([
      expect.objectContaining({
        level: "error",
        sessionId: claimed.sessionId,
        machineId: "M1",
        invoiceReference: reference,
        err: storeError,
      }),
    ]);
    expect(logged("could not release the claim; the timer will")).toEqual([
      expect.objectContaining({ level: "error", sessionId: claimed.sessionId, err: storeError }),
    ]);
    // The stale-claim timer (seqrCallTimeoutMs * 2 + 5 s) finds the store failing once more.
    await h.clock.advance(14_999);
    expect(logged("could not release a stale claim; retrying")).toEqual([]);
    store.transaction = () => {
      store.transaction = transaction;
      return Promise.reject(new Error("disk I/O error"));
    };
    await h.clock.advance(1);
    expect(logged("could not release a stale claim; retrying")).toEqual([
      expect.objectContaining({ level: "error", sessionId: claimed.sessionId, err: storeError }),
    ]);
    expect((await onlyPurchase(h)).state).toBe("claimed");
    await h.clock.advance(4_999);
    expect((await onlyPurchase(h)).state).toBe("claimed");
    await h.clock.advance(1);
    const released = await onlyPurchase(h);
    expect(released.state).toBe("failed");
    expect(released.reconciliation).toBe("invoice-reference-unknown");
  });
});
