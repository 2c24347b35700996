import { appendFileSync, closeSync, fsyncSync, openSync } from "node:fs";
import type {
  MechanismEvents,
  SelectionRequest,
  VendMechanism,
  VendOutcome,
} from "../../../hardware/vend-mechanism.ts";

/**
 * A scriptable VendMechanism for the agent's tests: selections are pushed in by the test, each vend takes `vendMs`
 * and ends with the next scripted outcome (delivered by default). Every physical vend (a call of vend()) is counted
 * and, when `ledgerFile` is set, appended to that file with fsync BEFORE the "motor turns", so a crash test can count
 * the products handed out across several processes.
 */
export class FakeMechanism implements VendMechanism {
  readonly driver = "simulator" as const;
  readonly vends: { selection: string; priceMinor: number }[] = [];
  readonly denials: { selection: string; reason: string }[] = [];
  openSessions: number[] = [];
  /** The held selection-first request each openSession was for (undefined: credit offered as usual). */
  heldOpens: (number | undefined)[] = [];
  closeCount = 0;
  outcomes: VendOutcome[] = [];
  vendMs: number;
  failStart = 0;
  #up = false;
  readonly #listeners = new Map<keyof MechanismEvents, Set<(...args: never[]) => void>>();
  readonly #ledgerFile: string | undefined;
  readonly #beforeMotor: ((selection: string, priceMinor: number) => void) | undefined;

  /**
   * `beforeMotor` runs as vend() is called, before anything turns: a test checks there what is durable at that moment
   * (the journal's synced bytes), or cuts the power there.
   */
  constructor(
    options: {
      vendMs?: number;
      ledgerFile?: string;
      beforeMotor?: (selection: string, priceMinor: number) => void;
    } = {},
  ) {
    this.vendMs = options.vendMs ?? 0;
    this.#ledgerFile = options.ledgerFile;
    this.#beforeMotor = options.beforeMotor;
  }

  async start(): Promise<void> {
    if (this.failStart > 0) {
      this.failStart -= 1;
      throw new Error("simulated start failure");
    }
    this.#up = true;
  }
  async stop(): Promise<void> {
    this.#up = false;
  }
  isUp(): boolean {
    return this.#up;
  }
  on<E extends keyof MechanismEvents>(event: E, listener: MechanismEvents[E]): this {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener as (...args: never[]) => void);
    return this;
  }
  off<E extends keyof MechanismEvents>(event: E, listener: MechanismEvents[E]): this {
    this.#listeners.get(event)?.delete(listener as (...args: never[]) => void);
    return this;
  }
  emit<E extends keyof MechanismEvents>(event: E, ...args: Parameters<MechanismEvents[E]>): void {
    for (const listener of this.#listeners.get(event) ?? []) (listener as (...a: unknown[]) => void)(...args);
  }
  async openSession(budgetMinor: number, heldRequestId?: number): Promise<void> {
    this.openSessions.push(budgetMinor);
    this.heldOpens.push(heldRequestId);
  }
  async closeSession(): Promise<void> {
    this.closeCount += 1;
  }
  requestSelection(selection: string): void {
    this.select({ selection });
  }
  select(request: SelectionRequest): void {
    this.emit("selection", request);
  }
  async vend(selection: string, priceMinor: number): Promise<VendOutcome> {
    this.#beforeMotor?.(selection, priceMinor);
    if (this.#ledgerFile) {
      const fd = openSync(this.#ledgerFile, "a");
      appendFileSync(fd, `${JSON.stringify({ selection, priceMinor, pid: process.pid })}\n`);
      fsyncSync(fd);
      closeSync(fd);
    }
    this.vends.push({ selection, priceMinor });
    if (this.vendMs > 0) await new Promise((resolve) => setTimeout(resolve, this.vendMs));
    return this.outcomes.shift() ?? { outcome: "delivered", evidence: "drop-sensor" };
  }
  async deny(selection: string, reason: string): Promise<void> {
    this.denials.push({ selection, reason });
  }
}
