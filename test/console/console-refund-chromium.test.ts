import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readPhysicalLedger } from "../../hardware/simulators/physical-ledger.ts";
import { ChaosCluster, type MachineSlot } from "../chaos/cluster.ts";
import { pollUntil } from "../chaos/processes.ts";
import { journalOnDisk } from "../helpers/agent-journal.ts";
import { launchChromium } from "../helpers/browser.ts";
import { hasTool } from "../helpers/system-tools.ts";
import { addOperator, operatorPassword } from "./console-client.ts";

/**
 * Issue 22's "done when", in Debian's Chromium: the real bridge process (SQLite, embedded broker) with the SEQR
 * sandbox and a real agent (simulated MDB machine). A customer scans, confirms, gets a cola, then the agent is killed
 * with SIGKILL while the motor turns for the water (the vend in flight in its journal). Restarted, it reports that vend
 * unknown; the bridge bills the cola and flags the purchase. An operator logs in, finds it in the reconciliation
 * queue, refunds part of it against the sandbox, and sees the refund's audit entry; the sandbox's ledger has it.
 */
describe.runIf(hasTool("chromium"))("the console's refund in Chromium, after an agent killed mid-vend", () => {
  let cluster: ChaosCluster;
  let browser: Browser;
  const msisdn = "46700000042";

  beforeAll(async () => {
    // The motor turns long enough that the kill lands inside a vend even on a loaded machine.
    [cluster, browser] = await Promise.all([
      ChaosCluster.start({ broker: "embedded", machines: 1, vendDurationMs: 8_000 }),
      launchChromium(),
    ]);
    await addOperator(cluster.store);
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await cluster?.close();
  });

  /** Waits (generously: two processes and a browser on a shared 2-core machine) for the machine's kiosk screen. */
  async function screen(slot: MachineSlot, name: string) {
    await pollUntil(
      `screen ${name} on ${slot.id}`,
      async () => (await slot.agent?.screen())?.name === name,
      120_000,
      () => cluster.describe(),
    );
  }

  /** The vends of the open session as the agent's journal has them on disk. */
  function journalVends(slot: MachineSlot) {
    return [...journalOnDisk(slot.dataDir).vends.values()];
  }

  /** Waits until the journal holds the selection's vend in `state` (read every 20 ms: a vend lasts seconds). */
  async function vendInJournal(slot: MachineSlot, selection: string, state: string): Promise<void> {
    await pollUntil(
      `the vend of ${selection} ${state} in the journal`,
      () => journalVends(slot).some((vend) => vend.selection === selection && vend.state === state),
      120_000,
      () => cluster.describe(),
      20,
    );
  }

  /** A purchase flagged by a real flow: one vend delivered, the next one cut by a SIGKILL of the agent mid-vend. */
  async function purchaseWithAgentKilledMidVend(slot: MachineSlot): Promise<string> {
    const scan = await cluster.sandbox.ups.scan({
      qr: `HTTP://SEQR.SE/000/ups?w=public_test_shop&t=${slot.id}`,
      msisdn,
      amount: { minor: 500, currency: "EUR" },
    });
    if (scan.kind !== "invoice") throw new Error(`the scan gave no invoice: ${JSON.stringify(scan)}`);
    const reference = scan.invoiceReferenceId;
    cluster.sandbox.app.confirm(reference, { msisdn, pin: "1234" });
    await screen(slot, "choose-product");
    expect(await slot.agent?.touch({ select: "A2" })).toBe(true);
    await vendInJournal(slot, "A2", "delivered");
    await screen(slot, "choose-product");
    expect(await slot.agent?.touch({ select: "A1" })).toBe(true);
    // Positive evidence that the vend started: approved in the journal (durable before the motor turns), no result.
    await vendInJournal(slot, "A1", "in-flight");
    await cluster.killAgent(slot);
    expect(slot.agent?.exitStatus?.signal).toBe("SIGKILL");
    const water = journalVends(slot).find((vend) => vend.selection === "A1");
    expect(water?.state, "the kill came before the vend's result was written").toBe("in-flight");
    expect(readPhysicalLedger(slot.ledgerFile).filter((drop) => drop.selection === "A1")).toEqual([]);
    await cluster.restartAgent(slot);
    return reference;
  }

  it("logs in, finds the purchase flagged unknown-vend, refunds part of it against the sandbox and sees the audit entry", async () => {
    const slot = cluster.machines[0] as MachineSlot;
    const reference = await purchaseWithAgentKilledMidVend(slot);
    let sessionId = "";
    await pollUntil(
      "the purchase committed for the cola and flagged unknown-vend",
      async () => {
        const purchase = (await cluster.store.listPurchases({ limit: 10 })).find(
          (candidate) => candidate.invoiceReference === reference,
        );
        sessionId = purchase?.sessionId ?? "";
        return (
          purchase?.state === "committed" &&
          purchase.ersReference !== null &&
          (purchase.reconciliation ?? "").split(",").includes("unknown-vend")
        );
      },
      180_000,
      () => cluster.describe(),
    );
    const purchase = await cluster.store.getPurchase(sessionId);
    expect(purchase).toMatchObject({ committedMinor: 200, currency: "EUR" });

    const base = new URL(cluster.bridge?.healthUrl ?? "").origin;
    const page = await (await browser.newContext()).newPage();
    const requested: string[] = [];
    page.on("request", (request) => requested.push(request.url()));
    await page.goto(`${base}/console/reconciliation`);
    expect(new URL(page.url()).pathname).toBe("/console/login");
    await page.fill('input[name="name"]', "ops");
    await page.fill('input[name="password"]', operatorPassword);
    await Promise.all([page.waitForURL(`${base}/console/fleet`), page.click('button[type="submit"]')]);

    await page.click('a[href="/console/reconciliation"]');
    const row = page.locator("tr", { has: page.locator(`a[href="/console/purchases/${sessionId}"]`) });
    expect(await row.locator(".flag").allTextContents()).toContain("unknown-vend");
    await row.locator(`a[href="/console/purchases/${sessionId}"]`).click();
    await page.waitForURL(`${base}/console/purchases/${sessionId}`);
    expect(await page.locator("#refund-figures").textContent()).toContain("2.00 EUR");
    expect(await page.inputValue('#refund-form input[name="amount"]')).toBe("2.00");
    await page.fill('#refund-form input[name="amount"]', "0.75");
    await page.fill('#refund-form textarea[name="note"]', "water stuck after the machine restarted");
    await Promise.all([page.waitForLoadState("load"), page.click('button:has-text("Refund through SEQR")')]);
    expect(await page.locator("#refund-outcome").textContent()).toMatch(/^Refunded 0\.75 EUR to the customer/);

    // The audit entry, on the purchase's page as the operator opens it again.
    await page.goto(`${base}/console/purchases/${sessionId}`);
    const entry = page.locator("tr.audit", { hasText: "refund-refunded" });
    expect(await entry.count()).toBe(1);
    expect(await entry.textContent()).toContain('"actor": "ops"');
    expect(await entry.textContent()).toContain('"amountMinor": 75');
    expect(await page.locator("#refund-figures").textContent()).toMatch(/Left to refund\s*1\.25 EUR/);

    const sandbox = (await (await fetch(`${cluster.sandbox.url}/sandbox/api/invoices/${reference}`)).json()) as {
      invoice: { paid: { minor: number }; refunds: { amount: { minor: number; currency: string } }[] };
    };
    expect(sandbox.invoice.paid.minor).toBe(200);
    expect(sandbox.invoice.refunds.map((refund) => refund.amount)).toEqual([{ minor: 75, currency: "EUR" }]);
    expect(await cluster.store.listRefunds(sessionId)).toMatchObject([
      { amountMinor: 75, status: "refunded", actor: "ops" },
    ]);
    for (const url of requested) expect(new URL(url).origin, url).toBe(base);
    await page.context().close();
  }, 600_000);
});
