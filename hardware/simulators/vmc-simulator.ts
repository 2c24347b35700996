import { EventEmitter } from "node:events";
import type { Duplex } from "node:stream";
import { type Clock, systemClock } from "../../platform/clock.ts";
import { LineFramer } from "../mdb/line-framer.ts";
import { type AdapterMessage, encodeAdapterMessage, parseHostLine } from "../mdb/qibixx-codec.ts";
import { SimulatorTimers } from "./simulator-timers.ts";

/** What the simulated VMC does after our approval. */
export type SimulatedVendResult =
  | "success"
  /** The VMC could not vend: `c,ERR,VEND 3`. */
  | "failure"
  /** The adapter/VMC resets mid-vend: INACTIVE, DISABLED, ENABLED and no result. */
  | "reset"
  /** Nothing ever comes back. */
  | "no-reply"
  | { successAfterMs: number };

export type VmcState = "INACTIVE" | "DISABLED" | "ENABLED" | "IDLE" | "VEND";

export interface VmcSimulatorOptions {
  clock?: Clock;
  /** From approval to the vend result. */
  vendDurationMs?: number;
  /**
   * Multi-vend, as real multi-vend VMCs do: after a vend (delivered or failed) the session stays open and the
   * customer may choose again (another VEND REQUEST in the same session); the reader is not re-enabled between
   * vends. The session ends when the reader ends it (C,STOP) or the customer presses the return key. A single-vend
   * VMC ends the session itself after one vend (the reader goes back to ENABLED).
   */
  multivend?: boolean;
  /** Delay of every reply line; `Infinity` = the adapter never answers (hung or wrong device). */
  replyDelayMs?: number;
  /** The product of this MDB item physically dropped (before the VMC reports VEND SUCCESS). */
  onDropped?: (item: number) => void;
}

interface VmcEvents {
  /** A line from the host (the driver), garbage included. */
  line: [line: string];
  vendRequested: [item: number, priceText: string];
  approved: [amountText: string, latencyMs: number];
  denied: [];
  vendResult: [result: string];
}

/**
 * The other end of the MDB adapter's serial line, played by one object: the Qibixx adapter (answers C,... with c,...)
 * and the vending machine controller behind it (enables the reader, offers credit, asks to vend when the customer
 * chooses, reports success or failure). Its adapter configuration is volatile like the real one's: every `attach`
 * (a power-up or replug) forgets it, so tests can check that the driver sets the adapter up again.
 */
export class VmcSimulator extends EventEmitter<VmcEvents> {
  readonly #clock: Clock;
  readonly #options: VmcSimulatorOptions;
  #stream: Duplex | undefined;
  #framer = new LineFramer();
  #state: VmcState = "INACTIVE";
  readonly #timers: SimulatorTimers;
  #vendRequestedAt = 0;
  #awaitingApproval: { item: number; priceText: string } | undefined;
  /** Adapter settings received since the last power-up (attach). */
  readonly config = new Map<string, string>();
  /** Every SETCONF round since the simulator was created (one per driver setup). */
  setupCount = 0;
  readonly received: string[] = [];
  readonly displayTexts: string[] = [];
  readonly approvals: string[] = [];
  garbageLines = 0;
  funds: string | undefined;
  /** Results to play for the next approvals, in order; "success" when empty. */
  readonly nextResults: SimulatedVendResult[] = [];
  /** VEND REQUESTs of the current session (multi-vend sessions have several); reset by each session start. */
  vendRequestsInSession = 0;
  /** How many times the reader went back to ENABLED after a session (a single-vend VMC does it after each vend). */
  sessionEnds = 0;

  constructor(options: VmcSimulatorOptions = {}) {
    super();
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#timers = new SimulatorTimers(this.#clock);
  }

  get state(): VmcState {
    return this.#state;
  }

  /** The adapter powers up on this stream (a new cable, a replug): volatile config is gone. */
  attach(stream: Duplex): void {
    this.detach();
    this.#stream = stream;
    this.#framer = new LineFramer();
    this.config.clear();
    this.#state = "INACTIVE";
    this.#awaitingApproval = undefined;
    stream.on("data", (chunk: Buffer) => {
      if (this.#stream !== stream) return;
      for (const line of this.#framer.push(chunk)) this.#onHostLine(line);
    });
    stream.on("error", () => {});
    stream.once("close", () => {
      if (this.#stream === stream) this.detach();
    });
  }

  detach(): void {
    this.#timers.cancelAll();
    this.#stream = undefined;
  }

  setReplyDelay(ms: number): void {
    this.#options.replyDelayMs = ms;
  }

  /** The customer presses a selection: with credit shown, the VMC asks the reader to approve. */
  customerSelects(item: number, priceText: string): boolean {
    if (this.#state !== "IDLE") return false;
    this.#state = "VEND";
    this.#awaitingApproval = { item, priceText };
    this.#vendRequestedAt = performance.now();
    this.vendRequestsInSession++;
    this.#send({ kind: "vendRequest", priceText, item });
    this.emit("vendRequested", item, priceText);
    return true;
  }

  /** The customer presses the coin-return/cancel key: the VMC ends the session. */
  customerCancels(): void {
    if (this.#state !== "IDLE" && this.#state !== "VEND") return;
    this.#awaitingApproval = undefined;
    this.#endSession();
  }

  /** The session is over: the reader is enabled again, waiting for the next customer. */
  #endSession(): void {
    this.#state = "ENABLED";
    this.sessionEnds++;
    this.#send({ kind: "readerState", state: "ENABLED" });
  }

  /** Raw text or bytes on the line, for garbage tests. */
  inject(data: string | Buffer): void {
    this.#stream?.write(data);
  }

  #onHostLine(line: string): void {
    this.received.push(line);
    this.emit("line", line);
    const command = parseHostLine(line);
    switch (command.kind) {
      case "garbage":
        this.garbageLines++;
        return;
      case "version":
        this.#send({ kind: "version", version: "sim-1.0,SIMULATOR" });
        return;
      case "disable":
        this.#state = "INACTIVE";
        this.#send({ kind: "enableAck", enabled: false });
        return;
      case "setConfig":
        if (this.config.size === 0) this.setupCount++;
        this.config.set(command.key, command.value);
        this.#send({ kind: "setOk" });
        return;
      case "enable":
        this.#send({ kind: "enableAck", enabled: true });
        // The VMC runs its reader setup (RESET, SETUP, EXPANSION, READER ENABLE).
        for (const state of ["INACTIVE", "DISABLED", "ENABLED"] as const) this.#send({ kind: "readerState", state });
        this.#state = "ENABLED";
        return;
      case "startSession":
        if (this.#state !== "ENABLED") {
          this.#send({ kind: "startRejected", text: "START -1" });
          return;
        }
        this.#state = "IDLE";
        this.vendRequestsInSession = 0;
        this.funds = command.fundsText;
        this.#send({ kind: "sessionIdle", fundsText: command.fundsText });
        return;
      case "approve":
        this.#onApproval(command.amountText);
        return;
      case "stop":
        if (this.#state === "VEND" && this.#awaitingApproval) {
          this.#awaitingApproval = undefined;
          this.#state = "IDLE";
          this.emit("denied");
          this.#send({ kind: "sessionIdle" });
          return;
        }
        if (this.#state === "IDLE" || this.#state === "VEND") {
          this.#endSession();
          return;
        }
        this.#send({ kind: "readerState", state: "ENABLED" });
        return;
      case "display":
        this.displayTexts.push(command.text);
        return;
    }
  }

  #onApproval(amountText: string): void {
    if (this.#state !== "VEND" || !this.#awaitingApproval) {
      this.#send({ kind: "error", text: "VEND -1" });
      return;
    }
    const latencyMs = performance.now() - this.#vendRequestedAt;
    const { item } = this.#awaitingApproval;
    this.#awaitingApproval = undefined;
    this.approvals.push(amountText);
    this.emit("approved", amountText, latencyMs);
    const result = this.nextResults.shift() ?? "success";
    const duration = this.#options.vendDurationMs ?? 0;
    if (result === "no-reply") return;
    if (result === "reset") {
      this.#timers.after(duration / 2, () => {
        this.emit("vendResult", "reset");
        for (const state of ["INACTIVE", "DISABLED", "ENABLED"] as const) this.#send({ kind: "readerState", state });
        this.#state = "ENABLED";
      });
      return;
    }
    const delay = typeof result === "object" ? result.successAfterMs : duration;
    this.#timers.after(delay, () => {
      if (result === "failure") {
        this.emit("vendResult", "failure");
        this.#send({ kind: "vendFailure", code: 3 });
      } else {
        this.#options.onDropped?.(item);
        this.emit("vendResult", "success");
        this.#send({ kind: "vendSuccess" });
      }
      this.#state = "IDLE";
      this.#send({ kind: "sessionIdle" });
      // A single-vend VMC closes the session after the vend; a multi-vend one waits for the next choice.
      if (!this.#options.multivend) this.#endSession();
    });
  }

  #send(message: Exclude<AdapterMessage, { kind: "garbage" }>): void {
    const stream = this.#stream;
    if (!stream) return;
    const delay = this.#options.replyDelayMs ?? 0;
    if (delay === Number.POSITIVE_INFINITY) return;
    const line = encodeAdapterMessage(message);
    if (delay <= 0) stream.write(line);
    else this.#timers.after(delay, () => this.#stream?.write(line));
  }
}
