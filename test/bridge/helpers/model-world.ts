import type { CreatePurchaseResult } from "../../../backend-bridge/purchase/orchestrator.ts";
import type { Purchase } from "../../../backend-bridge/store/store.ts";
import { ModelBridge, modelConfig } from "./model-bridge.ts";
import { machineId } from "./model-fleet.ts";

/**
 * The state of one model run besides the bridge itself: which invoices UPS got an answer for (only those can the
 * customer confirm or cancel in the app), the work the steps started and did not wait for (a notification's status
 * loop, a createPurchase inside a slow sendInvoice, an event the bridge is storing), and a trace for the report.
 */
export class ModelWorld {
  readonly bridge: ModelBridge;
  /** Invoice references createPurchase answered with, oldest first. */
  readonly references: string[] = [];
  readonly answers: { at: number; answeredAt: number; result: CreatePurchaseResult }[] = [];
  readonly pending = new Set<Promise<unknown>>();
  readonly trace: string[] = [];
  /** Checks deferred to the next quiet moment (a notification's effect). */
  readonly afterQuiet: (() => Promise<void>)[] = [];
  /** Checks that fall due at a later time (what the bridge must have done within SEQR's notification window). */
  readonly due: { at: number; check: () => Promise<void> }[] = [];
  /** Rules not checked in this run: only for exploring by hand what else fails while one defect is open. */
  readonly skipRules: ReadonlySet<string>;

  private constructor(bridge: ModelBridge, skipRules: ReadonlySet<string>) {
    this.bridge = bridge;
    this.skipRules = skipRules;
  }

  static async start(skipRules: ReadonlySet<string> = new Set()): Promise<ModelWorld> {
    return new ModelWorld(await ModelBridge.start(modelConfig()), skipRules);
  }

  get now(): number {
    return this.bridge.clock.now();
  }

  /** Starts `work` without waiting for it (it may wait on the clock); the run's quiet points let it progress. */
  track<T>(work: Promise<T>): void {
    const tracked = work.then(
      () => undefined,
      () => undefined,
    );
    this.pending.add(tracked);
    void tracked.finally(() => this.pending.delete(tracked));
  }

  createPurchase(amountMinor: number): void {
    const at = this.now;
    const request = {
      token: machineId,
      amount: (amountMinor / 100).toFixed(2),
      currency: "EUR",
      msisdn: "46701234567",
    };
    this.track(
      this.bridge.app.orchestrator.createPurchase(request).then((result) => {
        this.answers.push({ at, answeredAt: this.now, result });
        if ("invoiceReferenceId" in result) this.references.push(result.invoiceReferenceId);
      }),
    );
  }

  /** The bridge process dies and restarts: what the old one was doing is abandoned (UPS's call gets no answer). */
  async crash(): Promise<void> {
    this.pending.clear();
    await this.bridge.crash();
  }

  /** The `pick`-th most recent reference (0 = newest). */
  reference(pick: number): string | undefined {
    if (this.references.length === 0) return undefined;
    return this.references[this.references.length - 1 - (pick % this.references.length)];
  }

  async purchaseOf(reference: string): Promise<Purchase | undefined> {
    const all = await this.bridge.store.listPurchases({ limit: 10_000 });
    return all.find((purchase) => purchase.invoiceReference === reference);
  }

  /** Runs the checks that have fallen due (all of them with `all`). */
  async runDue(all = false): Promise<void> {
    const ready = this.due.filter((entry) => all || entry.at <= this.now);
    for (const entry of ready) {
      this.due.splice(this.due.indexOf(entry), 1);
      await entry.check();
    }
  }

  async quiesce(): Promise<void> {
    await this.bridge.quiesce();
    while (this.afterQuiet.length > 0) await this.afterQuiet.shift()?.();
  }
}
