import type { SeqrSandbox } from "../../backend-bridge/sandbox/seqr-sandbox.ts";
import type { ChaosCluster, MachineSlot } from "./cluster.ts";
import type { ScanRecord } from "./invariants.ts";
import type { Random } from "./random.ts";

/**
 * The chaos test's customers: one after another at each machine, each scans the machine's QR code (UPS posts
 * createPurchase to the bridge), confirms in the app (or declines), chooses one to three products on the kiosk screen
 * and presses Done, or walks away and lets the selection time out. Every createPurchase is recorded with when it was
 * answered. A customer gives up on a step after a generous deadline and the next one comes: faults are the nemesis's
 * job, the workload only keeps the machines busy and never fails the test by itself.
 */

export interface WorkloadStats {
  scans: number;
  invoices: number;
  confirmed: number;
  declined: number;
  selections: number;
  done: number;
  gaveUp: number;
}

const pin = "1234";

export class Workload {
  readonly scans: ScanRecord[] = [];
  readonly stats: WorkloadStats = {
    scans: 0,
    invoices: 0,
    confirmed: 0,
    declined: 0,
    selections: 0,
    done: 0,
    gaveUp: 0,
  };
  readonly #cluster: ChaosCluster;
  readonly #random: Random;
  #stopping = false;
  #running: Promise<void>[] = [];

  constructor(cluster: ChaosCluster, random: Random) {
    this.#cluster = cluster;
    this.#random = random;
  }

  start(): void {
    this.#running = this.#cluster.machines.map((slot, index) =>
      this.#customers(slot, this.#random.fork(`customer-${slot.id}`), `4670${String(index + 1).padStart(7, "0")}`),
    );
  }

  /** No new customer starts; the ones at a machine finish (or give up). */
  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all(this.#running);
  }

  /** A scan that is not part of the workload (the final probes): recorded like the others. */
  async scan(sandbox: SeqrSandbox, machineId: string, msisdn: string, probe = false): Promise<ScanRecord> {
    const startedAt = Date.now();
    const outcome = await sandbox.ups.scan({
      qr: `HTTP://SEQR.SE/000/ups?w=public_test_shop&t=${machineId}`,
      msisdn,
      amount: { minor: 500, currency: "EUR" },
    });
    const record: ScanRecord = {
      machineId,
      startedAt,
      answeredAt: Date.now(),
      kind: outcome.kind,
      ...(outcome.kind === "invoice" ? { invoiceReference: outcome.invoiceReferenceId } : {}),
      ...(outcome.kind === "error-code" ? { errorCode: outcome.errorCode } : {}),
      ...(outcome.kind === "failed" ? { reason: outcome.reason } : {}),
      ...(probe ? { probe } : {}),
    };
    this.scans.push(record);
    return record;
  }

  async #customers(slot: MachineSlot, random: Random, msisdn: string): Promise<void> {
    while (!this.#stopping) {
      try {
        await this.#oneCustomer(slot, random, msisdn);
      } catch {
        this.stats.gaveUp += 1;
      }
      await sleep(random.int(300, 2_500));
    }
  }

  async #oneCustomer(slot: MachineSlot, random: Random, msisdn: string): Promise<void> {
    const { sandbox } = this.#cluster;
    this.stats.scans += 1;
    const scan = await this.scan(sandbox, slot.id, msisdn);
    if (scan.kind !== "invoice" || scan.invoiceReference === undefined) return;
    this.stats.invoices += 1;
    const reference = scan.invoiceReference;
    // Customers think a little before confirming; some decline.
    await sleep(random.int(100, 1_500));
    if (random.chance(0.1)) {
      sandbox.app.cancel(reference, { msisdn });
      this.stats.declined += 1;
      return;
    }
    sandbox.app.confirm(reference, { msisdn, pin });
    this.stats.confirmed += 1;
    const wanted = random.int(1, 3);
    let chosen = 0;
    // The unlock may be slow (faults): the customer waits up to 40 s for the product screen, then walks away.
    while (chosen < wanted) {
      const screen = await this.#screenOf(slot, (name) => name === "choose-product" || name === "idle", 40_000);
      if (screen?.name !== "choose-product") {
        this.stats.gaveUp += 1;
        return;
      }
      const affordable = screen.products ?? [];
      if (affordable.length === 0) break;
      const product = random.pick(affordable);
      if (await slot.agent?.touch({ select: product.selection })) {
        chosen += 1;
        this.stats.selections += 1;
      }
      // Wait for the vend to end: the screen leaves choose-product (dispensing), then comes back or ends.
      await this.#screenOf(slot, (name) => name !== "choose-product", 5_000);
      await this.#screenOf(slot, (name) => name !== "dispensing", 45_000);
    }
    if (random.chance(0.85)) {
      const screen = await this.#screenOf(slot, (name) => name === "choose-product" || name === "idle", 20_000);
      if (screen?.name === "choose-product" && (await slot.agent?.touch("done"))) this.stats.done += 1;
    }
    // The next customer comes once the machine is back to its QR code (or after a while in any case).
    await this.#screenOf(slot, (name) => name === "idle", 40_000);
  }

  /** Polls the machine's kiosk until its screen matches; undefined when the deadline passes first. */
  async #screenOf(
    slot: MachineSlot,
    matches: (name: string) => boolean,
    timeoutMs: number,
  ): Promise<{ name: string; products?: Array<{ selection: string }> } | undefined> {
    const deadline = Date.now() + timeoutMs;
    // At the end of a run customers walk away mid-step: the machine's and bridge's timers must end the session.
    while (Date.now() < deadline && !this.#stopping) {
      const screen = await slot.agent?.screen();
      if (screen && matches(screen.name)) return screen;
      await sleep(150);
    }
    return undefined;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((wait) => setTimeout(wait, ms));
}
