import { EventEmitter } from "node:events";
import { type Clock, systemClock, type TimerHandle } from "../../platform/clock.ts";
import type { Logger } from "../../platform/logger.ts";
import { ackFrame, fafbCommand, nextPackNo } from "./fafb-commands.ts";
import { encodeFrame, type FafbFrame, FafbFrameReader } from "./fafb-frame.ts";

export interface FafbHostLinkOptions {
  write: (bytes: Buffer) => Promise<void>;
  clock?: Clock;
  logger: Logger;
  /** How many POLLs a queued command is offered on before it is given up (the protocol allows 5 retries). */
  maxAttempts?: number;
  /** The board polls every 200 ms; this long without any frame means it is gone. */
  silenceMs?: number;
}

interface QueuedCommand {
  command: number;
  packNo: number;
  text: Buffer;
  attempts: number;
  resolve: () => void;
  reject: (error: Error) => void;
}

interface HostLinkEvents {
  /** A data frame the board sent (already ACKed; repeats of the same packet number filtered out). */
  frame: [frame: FafbFrame];
  /** The board started or stopped polling. */
  polling: [polling: boolean];
}

/**
 * The host's half of the FA FB exchange. The board is the master: it POLLs every 200 ms and we must answer within
 * 100 ms, with ACK or with the command we have queued. We answer synchronously on receipt, so the answer time is the
 * serial latency. A command is re-offered on the following POLLs (same packet number, so the board can drop
 * duplicates) until the board ACKs it, at most `maxAttempts` times. Frames from the board are ACKed and a
 * retransmission (same command and packet number, because our ACK got lost) is not reported twice.
 */
export class FafbHostLink {
  readonly #options: FafbHostLinkOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #reader = new FafbFrameReader();
  readonly #events = new EventEmitter<HostLinkEvents>();
  #queue: QueuedCommand[] = [];
  #awaitingAck: QueuedCommand | undefined;
  #packNo = 0;
  #lastBoardFrame: { command: number; packNo: number } | undefined;
  #polling = false;
  #silenceTimer: TimerHandle | undefined;
  #lastFrameAt: number | undefined;

  constructor(options: FafbHostLinkOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.logger;
  }

  on<E extends keyof HostLinkEvents>(event: E, listener: (...args: HostLinkEvents[E]) => void): this {
    this.#events.on(event, listener as never);
    return this;
  }

  get isPolling(): boolean {
    return this.#polling;
  }

  /** When the board last sent a valid frame. */
  get lastFrameAt(): number | undefined {
    return this.#lastFrameAt;
  }

  get garbageByteCount(): number {
    return this.#reader.garbageByteCount;
  }

  get badFrameCount(): number {
    return this.#reader.badFrameCount;
  }

  /**
   * Queues a command for the next POLL; resolves when the board ACKs it. `onAcknowledged` runs synchronously on the
   * ACK, before any frame that follows it in the same read is handled (a promise callback would run too late).
   */
  send(command: number, text: Buffer, onAcknowledged?: () => void): Promise<{ packNo: number }> {
    return new Promise((resolve, reject) => {
      this.#packNo = nextPackNo(this.#packNo);
      const packNo = this.#packNo;
      this.#queue.push({
        command,
        packNo,
        text,
        attempts: 0,
        resolve: () => {
          onAcknowledged?.();
          resolve({ packNo });
        },
        reject,
      });
    });
  }

  /** Feeds bytes read from the serial port. */
  receive(chunk: Buffer): void {
    for (const frame of this.#reader.push(chunk, this.#clock.now())) this.#onFrame(frame);
  }

  /** The link went away (unplug) or is being stopped: fail what is queued and forget the exchange state. */
  reset(reason: string): void {
    const pending = [...(this.#awaitingAck ? [this.#awaitingAck] : []), ...this.#queue];
    this.#queue = [];
    this.#awaitingAck = undefined;
    this.#lastBoardFrame = undefined;
    this.#reader.reset();
    for (const command of pending) command.reject(new Error(`spiral board link lost: ${reason}`));
    if (this.#silenceTimer) this.#clock.clearTimeout(this.#silenceTimer);
    this.#silenceTimer = undefined;
    this.#setPolling(false);
  }

  #onFrame(frame: FafbFrame): void {
    this.#lastFrameAt = this.#clock.now();
    this.#armSilenceTimer();
    this.#setPolling(true);
    if (frame.command === fafbCommand.poll) {
      this.#answerPoll();
      return;
    }
    if (frame.command === fafbCommand.ack) {
      const acked = this.#awaitingAck;
      if (!acked) return;
      this.#awaitingAck = undefined;
      this.#queue = this.#queue.filter((queued) => queued !== acked);
      acked.resolve();
      return;
    }
    this.#write(encodeFrame(ackFrame));
    if (frame.packNo === undefined) return;
    const last = this.#lastBoardFrame;
    if (last && last.command === frame.command && last.packNo === frame.packNo) {
      this.#log.debug({ command: frame.command, packNo: frame.packNo }, "board repeated a frame; ACKed again");
      return;
    }
    this.#lastBoardFrame = { command: frame.command, packNo: frame.packNo };
    this.#events.emit("frame", frame);
  }

  #answerPoll(): void {
    let next = this.#queue[0];
    while (next && next.attempts >= (this.#options.maxAttempts ?? 5)) {
      this.#queue.shift();
      this.#awaitingAck = undefined;
      next.reject(
        new Error(`the board did not acknowledge command 0x${next.command.toString(16)} after ${next.attempts} tries`),
      );
      next = this.#queue[0];
    }
    if (!next) {
      this.#write(encodeFrame(ackFrame));
      return;
    }
    next.attempts++;
    this.#awaitingAck = next;
    this.#write(encodeFrame({ command: next.command, packNo: next.packNo, text: next.text }));
  }

  #write(bytes: Buffer): void {
    this.#options.write(bytes).catch((error: unknown) => this.#log.debug({ err: error }, "write to the board failed"));
  }

  #armSilenceTimer(): void {
    if (this.#silenceTimer) this.#clock.clearTimeout(this.#silenceTimer);
    this.#silenceTimer = this.#clock.setTimeout(() => {
      this.#silenceTimer = undefined;
      this.#log.warn("the spiral board stopped polling");
      this.#setPolling(false);
    }, this.#options.silenceMs ?? 1_000);
  }

  #setPolling(polling: boolean): void {
    if (this.#polling === polling) return;
    this.#polling = polling;
    this.#events.emit("polling", polling);
  }
}
