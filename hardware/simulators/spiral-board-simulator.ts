import { EventEmitter } from "node:events";
import type { Duplex } from "node:stream";
import { type Clock, systemClock, type TimerHandle } from "../../platform/clock.ts";
import {
  ackFrame,
  type DirectDrive,
  dispensingStatus,
  dispensingStatusFrame,
  fafbCommand,
  nextPackNo,
  parseDirectDrive,
  pollFrame,
} from "../spiral/fafb-commands.ts";
import { encodeFrame, type FafbFrame, FafbFrameReader } from "../spiral/fafb-frame.ts";
import { SimulatorTimers } from "./simulator-timers.ts";

/** What happens to the next dispense of a selection. */
export type SimulatedDispense =
  | "success"
  /** The spiral jams: status 03. */
  | "jam"
  /** The motor turns but the product hangs: with the drop sensor on the board reports 03 (it cannot tell a hanging
   * product from a jam; unverified for real boards), without it the board believes it succeeded (02). */
  | "missed-drop"
  | "motor-missing"
  /** "dispensing" and then nothing: the host must time out to unknown. */
  | "no-final-status";

export interface SpiralBoardSimulatorOptions {
  clock?: Clock;
  /** The real board polls every 200 ms. */
  pollIntervalMs?: number;
  vendDurationMs?: number;
  /** How often a board frame is repeated without an ACK before the board gives up. */
  maxAttempts?: number;
  /** The product of this selection number physically dropped (before the board reports success). */
  onDropped?: (selection: number) => void;
}

interface BoardEvents {
  executed: [drive: DirectDrive];
  frame: [frame: FafbFrame];
}

/**
 * The board's side of the FA FB protocol: it POLLs, takes the host's queued command as the answer, ACKs it, runs the
 * direct drive once per packet number (a retransmission is ACKed but not run again), and reports the dispensing
 * status, repeating each report until the host ACKs it. Jams, missed drops and a silent board are injectable.
 */
export class SpiralBoardSimulator extends EventEmitter<BoardEvents> {
  readonly #clock: Clock;
  readonly #options: SpiralBoardSimulatorOptions;
  #stream: Duplex | undefined;
  #reader = new FafbFrameReader();
  #pollTimer: TimerHandle | undefined;
  readonly #timers: SimulatorTimers;
  #outbox: Array<{ frame: FafbFrame; attempts: number }> = [];
  #sentHead = false;
  #packNo = 0;
  #lastHostPackNo: number | undefined;
  /** Every motor run, in order (a duplicate command must not add one). */
  readonly executed: DirectDrive[] = [];
  /** Per-selection scripted results; "success" when none is set. */
  readonly nextDispense = new Map<number, SimulatedDispense[]>();
  /** Stop polling (a board that hung or lost power while the USB adapter stays). */
  silent = false;
  ackCount = 0;

  constructor(options: SpiralBoardSimulatorOptions = {}) {
    super();
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#timers = new SimulatorTimers(this.#clock);
  }

  attach(stream: Duplex): void {
    this.detach();
    this.#stream = stream;
    this.#reader = new FafbFrameReader();
    this.#outbox = [];
    this.#sentHead = false;
    stream.on("data", (chunk: Buffer) => {
      if (this.#stream !== stream) return;
      for (const frame of this.#reader.push(chunk, this.#clock.now())) this.#onHostFrame(frame);
    });
    stream.on("error", () => {});
    stream.once("close", () => {
      if (this.#stream === stream) this.detach();
    });
    this.#schedulePoll();
  }

  detach(): void {
    if (this.#pollTimer) this.#clock.clearTimeout(this.#pollTimer);
    this.#pollTimer = undefined;
    this.#timers.cancelAll();
    this.#stream = undefined;
  }

  script(selection: number, ...results: SimulatedDispense[]): void {
    this.nextDispense.set(selection, [...(this.nextDispense.get(selection) ?? []), ...results]);
  }

  inject(data: Buffer): void {
    this.#stream?.write(data);
  }

  #schedulePoll(): void {
    this.#pollTimer = this.#clock.setTimeout(() => {
      this.#pollTimer = undefined;
      if (!this.#stream) return;
      if (!this.silent) this.#pollOrReport();
      this.#schedulePoll();
    }, this.#options.pollIntervalMs ?? 200);
  }

  #pollOrReport(): void {
    const head = this.#outbox[0];
    if (head && head.attempts >= (this.#options.maxAttempts ?? 5)) this.#outbox.shift();
    const next = this.#outbox[0];
    if (next) {
      next.attempts++;
      this.#sentHead = true;
      this.#write(next.frame);
      return;
    }
    this.#sentHead = false;
    this.#write(pollFrame);
  }

  #onHostFrame(frame: FafbFrame): void {
    this.emit("frame", frame);
    if (frame.command === fafbCommand.ack) {
      this.ackCount++;
      if (this.#sentHead) {
        this.#outbox.shift();
        this.#sentHead = false;
      }
      return;
    }
    if (frame.command !== fafbCommand.directDrive) return;
    this.#write(ackFrame);
    const drive = parseDirectDrive(frame);
    if (!drive || frame.packNo === this.#lastHostPackNo) return; // malformed, or a repeat of a command already run
    this.#lastHostPackNo = frame.packNo;
    this.#run(drive);
  }

  #run(drive: DirectDrive): void {
    this.executed.push(drive);
    this.emit("executed", drive);
    const queue = this.nextDispense.get(drive.selection) ?? [];
    const result = queue.shift() ?? "success";
    this.#report(dispensingStatus.dispensing, drive.selection);
    if (result === "no-final-status") return;
    this.#timers.after(this.#options.vendDurationMs ?? 1_000, () => {
      const status =
        result === "jam"
          ? dispensingStatus.jammed
          : result === "motor-missing"
            ? dispensingStatus.motorMissing
            : result === "missed-drop" && drive.dropSensor
              ? dispensingStatus.jammed
              : dispensingStatus.success;
      // Only a plain success drops the product; a missed drop hangs in the spiral whatever the board reports.
      if (result === "success") this.#options.onDropped?.(drive.selection);
      this.#report(status, drive.selection);
    });
  }

  #report(status: number, selection: number): void {
    this.#packNo = nextPackNo(this.#packNo);
    this.#outbox.push({ frame: dispensingStatusFrame(this.#packNo, { status, selection }), attempts: 0 });
  }

  #write(frame: FafbFrame): void {
    this.#stream?.write(encodeFrame(frame));
  }
}
