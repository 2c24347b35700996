import { type Clock, systemClock, type TimerHandle } from "../../platform/clock.ts";
import type { Logger } from "../../platform/logger.ts";
import type { Catalog } from "../../protocol/catalog.ts";
import { LinkReport } from "../link-report.ts";
import { MechanismEmitter } from "../mechanism-emitter.ts";
import type { BackoffSettings } from "../serial/backoff.ts";
import { SerialTransport } from "../serial/serial-transport.ts";
import type { StreamConnector } from "../serial/stream-connector.ts";
import type { VendMechanism, VendOutcome } from "../vend-mechanism.ts";
import { directDriveFrame, dispensingStatus, fafbCommand, parseDispensingStatus } from "./fafb-commands.ts";
import type { FafbFrame } from "./fafb-frame.ts";
import { FafbHostLink } from "./fafb-host-link.ts";

export interface SpiralBoardSettings {
  /** Ask the board to confirm delivery with its drop sensor (success then means "the beam saw the product"). */
  dropSensor: boolean;
  /** From the direct-drive command to the final dispensing status; past it the outcome is unknown. */
  dispenseTimeoutMs: number;
  /** No frame from the board for this long means it is gone (it polls every 200 ms). */
  silenceMs?: number;
}

export interface SpiralBoardOptions {
  path: string;
  connect: StreamConnector;
  settings: SpiralBoardSettings;
  catalog: Catalog;
  logger: Logger;
  clock?: Clock;
  backoff?: BackoffSettings;
  /** Selection -> board selection number; by default the catalog keys read as numbers. */
  selectionNumbers?: Map<string, number>;
}

interface DispenseInFlight {
  selection: string;
  boardSelection: number;
  acknowledged: boolean;
  timer: TimerHandle;
  finish: (outcome: VendOutcome) => void;
}

/** Board selection numbers are the catalog's selection keys ("11" -> 11). */
export function boardSelectionNumbers(catalog: Catalog): Map<string, number> {
  const numbers = new Map<string, number>();
  for (const selection of Object.keys(catalog.products)) {
    if (!/^\d{1,5}$/.test(selection) || Number(selection) > 0xffff) {
      throw new RangeError(
        `selection "${selection}" is not a spiral-board selection number: the catalog keys of a spiral-board machine must be the board's numbers (e.g. "11")`,
      );
    }
    numbers.set(selection, Number(selection));
  }
  return numbers;
}

/**
 * A serial spiral-motor board driven directly (FA FB protocol): we are the one who decides to dispense, with the
 * "direct drive" command and the drop sensor on; the board reports the dispensing status. Success with the drop
 * sensor is delivered (drop-sensor evidence); a jam or motor fault is not billed; no final status in time, or the
 * board gone mid-dispense, is unknown.
 */
export class SpiralBoardMechanism extends MechanismEmitter implements VendMechanism {
  readonly driver = "spiral-board" as const;
  readonly #settings: SpiralBoardSettings;
  readonly #catalog: Catalog;
  readonly #numbers: Map<string, number>;
  readonly #transport: SerialTransport;
  readonly #link: FafbHostLink;
  readonly #clock: Clock;
  readonly #log: Logger;
  #inFlight: DispenseInFlight | undefined;
  #sessionOpen = false;
  readonly #linkReport = new LinkReport((state, detail) => this.emit("link", state, detail));

  constructor(options: SpiralBoardOptions) {
    const log = options.logger.child({ module: "spiral-board" });
    super(log);
    this.#log = log;
    this.#settings = options.settings;
    this.#catalog = options.catalog;
    this.#numbers = options.selectionNumbers ?? boardSelectionNumbers(options.catalog);
    this.#clock = options.clock ?? systemClock;
    this.#transport = new SerialTransport({
      path: options.path,
      connect: options.connect,
      // Nothing to configure on the board; a fresh exchange starts with its next POLL.
      onOpen: async () => this.#link.reset("reopened"),
      logger: log,
      clock: this.#clock,
      ...(options.backoff ? { backoff: options.backoff } : {}),
    });
    this.#link = new FafbHostLink({
      write: (bytes) => this.#transport.write(bytes),
      clock: this.#clock,
      logger: log,
      ...(options.settings.silenceMs ? { silenceMs: options.settings.silenceMs } : {}),
    });
    this.#transport.on("data", (chunk) => this.#link.receive(chunk));
    this.#transport.on("down", (reason) => {
      this.#finish({ outcome: "unknown", evidence: "link-lost", detail: reason });
      this.#link.reset(reason);
      this.#report("down", reason);
    });
    this.#transport.on("error", (error) =>
      this.emit("fault", { code: `serial-${error.kind}`, message: error.message, outOfService: true }),
    );
    this.#link.on("polling", (polling) => {
      if (polling) this.#report("up");
      else {
        this.#finish({ outcome: "unknown", evidence: "link-lost", detail: "the board stopped polling mid-dispense" });
        this.#report("down", "the board stopped polling");
      }
    });
    this.#link.on("frame", (frame) => this.#onBoardFrame(frame));
    this.#transport.on("up", () => {
      if (this.#link.isPolling) this.#report("up");
    });
  }

  get garbageByteCount(): number {
    return this.#link.garbageByteCount;
  }

  get badFrameCount(): number {
    return this.#link.badFrameCount;
  }

  isUp(): boolean {
    return this.#transport.isUp() && this.#link.isPolling;
  }

  /** When the board last sent a valid frame (it polls every 200 ms). */
  lastSignOfLifeAt(): number | undefined {
    return this.#link.lastFrameAt;
  }

  start(): Promise<void> {
    return this.#linkReport.start(this.isUp(), () => this.#transport.start());
  }

  async stop(): Promise<void> {
    this.#finish({ outcome: "unknown", evidence: "link-lost", detail: "driver stopped during the dispense" });
    await this.#transport.stop();
    this.#link.reset("stopped");
  }

  async openSession(_budgetMinor: number): Promise<void> {
    this.#sessionOpen = true;
  }

  async closeSession(): Promise<void> {
    this.#sessionOpen = false;
  }

  requestSelection(selection: string): void {
    if (!this.#catalog.products[selection]) {
      this.#log.warn({ selection }, "selection not in the catalog; ignored");
      return;
    }
    this.emit("selection", { selection });
  }

  async vend(selection: string, _priceMinor: number): Promise<VendOutcome> {
    const boardSelection = this.#numbers.get(selection);
    if (boardSelection === undefined) {
      return { outcome: "not-delivered", evidence: "none", detail: `selection ${selection} is not in the catalog` };
    }
    if (this.#inFlight) return { outcome: "not-delivered", evidence: "none", detail: "another dispense is running" };
    if (!this.isUp()) return { outcome: "not-delivered", evidence: "none", detail: "the board is not polling" };
    const outcome = new Promise<VendOutcome>((resolve) => {
      const timer = this.#clock.setTimeout(() => {
        const current = this.#inFlight as DispenseInFlight | undefined;
        const accepted = current?.acknowledged ? "accepted by the board" : "never acknowledged by the board";
        this.#finish({
          outcome: "unknown",
          evidence: "none",
          detail: `no final dispensing status within ${this.#settings.dispenseTimeoutMs} ms (${accepted})`,
        });
      }, this.#settings.dispenseTimeoutMs);
      this.#inFlight = { selection, boardSelection, acknowledged: false, timer, finish: resolve };
    });
    const inFlight = this.#inFlight as DispenseInFlight | undefined;
    const frame = directDriveFrame(0, boardSelection, this.#settings.dropSensor);
    const acknowledged = () => {
      if (inFlight) inFlight.acknowledged = true;
    };
    this.#link.send(fafbCommand.directDrive, frame.text, acknowledged).then(
      () => {},
      (error: unknown) => {
        // The board may have run the motor and only its ACK got lost: unknown, never re-vended.
        if (this.#inFlight === inFlight) {
          this.#finish({
            outcome: "unknown",
            evidence: "none",
            detail: `direct drive not acknowledged: ${String(error)}`,
          });
        }
      },
    );
    return outcome;
  }

  async deny(selection: string, reason: string): Promise<void> {
    this.#log.info({ selection, reason }, "selection refused");
  }

  #onBoardFrame(frame: FafbFrame): void {
    const report = parseDispensingStatus(frame);
    if (!report) {
      this.#log.debug({ command: frame.command }, "board frame not used");
      return;
    }
    const inFlight = this.#inFlight;
    if (!inFlight || report.selection !== inFlight.boardSelection) {
      this.#log.warn({ ...report }, "dispensing status for no dispense of ours; ignored");
      return;
    }
    if (!inFlight.acknowledged) {
      // The board cannot report on a dispense it has not accepted yet: a stray or stale report, never a result.
      this.#log.warn({ ...report }, "dispensing status before the board acknowledged our command; ignored");
      return;
    }
    const selection = inFlight.selection;
    switch (report.status) {
      case dispensingStatus.dispensing:
        return;
      case dispensingStatus.success:
        this.#finish({ outcome: "delivered", evidence: this.#settings.dropSensor ? "drop-sensor" : "home-cycle" });
        return;
      case dispensingStatus.jammed:
        this.#fault(selection, "jammed", "the spiral jammed", false);
        this.#finish({ outcome: "jammed", evidence: "jam", detail: "board reported a jam" });
        return;
      case dispensingStatus.motorMissing:
        this.#fault(selection, "motor-missing", "no motor at this selection", false);
        this.#finish({ outcome: "not-delivered", evidence: "none", detail: "board reported no motor" });
        return;
      case dispensingStatus.motorDidNotStop:
        this.#fault(selection, "motor-did-not-stop", "the motor did not stop", true);
        this.#finish({ outcome: "unknown", evidence: "none", detail: "motor did not stop" });
        return;
      case dispensingStatus.elevatorError:
        this.#fault(selection, "elevator-error", "elevator error", true);
        this.#finish({ outcome: "unknown", evidence: "none", detail: "elevator error" });
        return;
      case dispensingStatus.terminated:
        this.#finish({ outcome: "not-delivered", evidence: "none", detail: "the board terminated the purchase" });
        return;
      default:
        this.#finish({
          outcome: "unknown",
          evidence: "none",
          detail: `unknown dispensing status 0x${report.status.toString(16)}`,
        });
    }
  }

  #fault(selection: string, code: string, message: string, outOfService: boolean): void {
    this.emit("fault", { code: `spiral-${code}`, message: `selection ${selection}: ${message}`, outOfService });
  }

  #finish(outcome: VendOutcome): void {
    const inFlight = this.#inFlight;
    if (!inFlight) return;
    this.#inFlight = undefined;
    this.#clock.clearTimeout(inFlight.timer);
    this.#log.info({ selection: inFlight.selection, ...outcome }, "dispense finished");
    inFlight.finish(outcome);
  }

  #report(state: "up" | "down", detail?: string): void {
    if (state === "up" && !this.#transport.isUp()) return;
    this.#linkReport.report(state, detail);
  }

  get sessionOpen(): boolean {
    return this.#sessionOpen;
  }
}
