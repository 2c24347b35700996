import { EventEmitter } from "node:events";
import type { Duplex } from "node:stream";
import { type Clock, systemClock, type TimerHandle } from "../../platform/clock.ts";
import type { Logger } from "../../platform/logger.ts";
import { type BackoffSettings, backoffDelayMs, defaultSerialBackoff } from "./backoff.ts";
import { explainSerialError, type SerialPortError } from "./serial-errors.ts";
import type { StreamConnector } from "./stream-connector.ts";

export interface SerialTransportOptions {
  /** What the logs and errors call the device (the configured path, ideally /dev/serial/by-id/...). */
  path: string;
  connect: StreamConnector;
  /**
   * Runs after every successful (re)open, before the link counts as up: adapters like the Qibixx MDB-USB forget
   * their configuration on power loss, so setup must be repeated on each reconnect. A rejection closes the stream
   * and retries with backoff.
   */
  onOpen?: () => Promise<void>;
  backoff?: BackoffSettings;
  clock?: Clock;
  random?: () => number;
  logger: Logger;
}

interface TransportEvents {
  data: [chunk: Buffer];
  up: [];
  down: [reason: string];
  error: [error: SerialPortError];
}

/**
 * A serial link that stays up: it opens the device, re-runs the device setup after each open, and when the device
 * disappears (USB adapter unplugged, board power-cycled) it says so and reopens with jittered exponential backoff
 * for as long as it runs. Bytes arrive as `data` events; framing belongs to the protocol on top.
 */
export class SerialTransport {
  readonly path: string;
  readonly #options: SerialTransportOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #events = new EventEmitter<TransportEvents>();
  #stream: Duplex | undefined;
  #up = false;
  #running = false;
  #attempt = 0;
  #timer: TimerHandle | undefined;
  #lastErrorMessage = "";
  #firstUp: { promise: Promise<void>; resolve: () => void; reject: (error: Error) => void } | undefined;

  constructor(options: SerialTransportOptions) {
    this.path = options.path;
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.logger;
  }

  on<E extends keyof TransportEvents>(event: E, listener: (...args: TransportEvents[E]) => void): this {
    this.#events.on(event, listener as never);
    return this;
  }

  off<E extends keyof TransportEvents>(event: E, listener: (...args: TransportEvents[E]) => void): this {
    this.#events.off(event, listener as never);
    return this;
  }

  isUp(): boolean {
    return this.#up;
  }

  /** Starts connecting; resolves once the device is open and set up the first time (retrying meanwhile). */
  start(): Promise<void> {
    if (!this.#firstUp) {
      let resolve!: () => void;
      let reject!: (error: Error) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      // The caller may not await start() before stop(); don't let that rejection go unhandled.
      promise.catch(() => {});
      this.#firstUp = { promise, resolve, reject };
    }
    if (!this.#running) {
      this.#running = true;
      void this.#attemptOpen();
    }
    return this.#firstUp.promise;
  }

  async stop(): Promise<void> {
    this.#running = false;
    if (this.#timer) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#firstUp?.reject(new Error(`serial transport for ${this.path} stopped before it came up`));
    const stream = this.#stream;
    this.#stream = undefined;
    const wasUp = this.#up;
    this.#up = false;
    if (stream) await closeStream(stream);
    if (wasUp) this.#events.emit("down", "stopped");
  }

  /**
   * Drops the open stream and reopens the device with backoff, running the setup hook again: for a device that is
   * still connected but needs a fresh start (an adapter that rebooted behind an open port and could not be set up
   * in place).
   */
  reopen(reason: string): void {
    const stream = this.#stream;
    if (stream) this.#lost(stream, reason);
  }

  /** Writes bytes; rejects when the link is down (the caller decides what that means for its transaction). */
  write(data: Buffer | string): Promise<void> {
    const stream = this.#stream;
    if (!stream || stream.destroyed) return Promise.reject(new Error(`serial link ${this.path} is down`));
    return new Promise((resolve, reject) => {
      stream.write(data, (error) => (error ? reject(explainSerialError(error, this.path)) : resolve()));
    });
  }

  async #attemptOpen(): Promise<void> {
    this.#timer = undefined;
    if (!this.#running) return;
    let stream: Duplex;
    try {
      stream = await this.#options.connect();
    } catch (error) {
      this.#reportError(explainSerialError(error, this.path));
      this.#scheduleReopen();
      return;
    }
    if (!this.#running) {
      await closeStream(stream);
      return;
    }
    this.#stream = stream;
    stream.on("data", (chunk: Buffer | string) => {
      if (this.#stream === stream) this.#events.emit("data", Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
    });
    stream.on("error", (error: Error) => this.#log.debug({ err: error }, "serial stream error"));
    stream.once("close", (error?: unknown) =>
      this.#lost(stream, error ? explainSerialError(error, this.path).message : "closed"),
    );
    stream.once("end", () => this.#lost(stream, "the device closed the link"));
    try {
      await this.#options.onOpen?.();
    } catch (error) {
      if (this.#stream !== stream) return; // lost during setup; #lost already scheduled the reopen
      this.#log.warn({ err: error, path: this.path }, "device setup after open failed; reopening");
      this.#stream = undefined;
      await closeStream(stream);
      this.#scheduleReopen();
      return;
    }
    if (this.#stream !== stream) return;
    this.#attempt = 0;
    this.#lastErrorMessage = "";
    this.#up = true;
    this.#log.info({ path: this.path }, "serial link up");
    this.#events.emit("up");
    this.#firstUp?.resolve();
  }

  #lost(stream: Duplex, reason: string): void {
    if (this.#stream !== stream) return;
    this.#stream = undefined;
    const wasUp = this.#up;
    this.#up = false;
    if (!stream.destroyed) stream.destroy();
    this.#log.warn({ path: this.path, reason }, "serial link lost");
    if (wasUp) this.#events.emit("down", reason);
    this.#scheduleReopen();
  }

  #reportError(error: SerialPortError): void {
    // Report a repeated failure once, not every backoff step (an unplugged adapter would flood the journal and
    // the agent's fault events); a different failure, or one after the link was up again, is reported anew.
    if (error.message === this.#lastErrorMessage) return;
    this.#log.warn({ path: this.path, kind: error.kind }, error.message);
    this.#lastErrorMessage = error.message;
    if (this.#events.listenerCount("error") > 0) this.#events.emit("error", error);
  }

  #scheduleReopen(): void {
    if (!this.#running || this.#timer) return;
    const delay = backoffDelayMs(this.#attempt++, this.#options.backoff ?? defaultSerialBackoff, this.#options.random);
    this.#timer = this.#clock.setTimeout(() => void this.#attemptOpen(), delay);
  }
}

function closeStream(stream: Duplex): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed) {
      resolve();
      return;
    }
    const closable = stream as Duplex & {
      close?: (callback: (error?: Error | null) => void) => void;
      isOpen?: boolean;
    };
    if (typeof closable.close === "function" && closable.isOpen) {
      closable.close(() => resolve());
      return;
    }
    stream.once("close", () => resolve());
    stream.destroy();
  });
}
