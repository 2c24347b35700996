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
  /** The reader was reset during the vend: `c,ERR,VEND 5` ("GotReset" in py_mdb_terminal). */
  | "got-reset"
  /** Nothing ever comes back. */
  | "no-reply"
  | { successAfterMs: number };

export type VmcState = "INACTIVE" | "DISABLED" | "ENABLED" | "IDLE" | "VEND";

/**
 * Which adapter firmware the simulator speaks (docs/mdb-adapters.md): `current` answers `C,0` with `c,0` and `C,1`
 * with `c,STATUS,INACTIVE`, `c,1`, ... and knows the key `mdb-address`; `legacy` answers `C,0` with
 * `c,STATUS,OFFLINE` and `C,1` with `c,STATUS,ONLINE` and knows `mdb-addr`.
 */
export type AdapterFirmware = "current" | "legacy";

/** Settings each firmware accepts; any other key is answered `c,ERR,"SETCONF -1"` (our assumption, see the docs). */
const knownKeys: Record<AdapterFirmware, ReadonlySet<string>> = {
  current: new Set([
    "mdb-address",
    "mdb-currency-code",
    "mdb-scale-factor",
    "mdb-decimal-places",
    "mdb-always-idle",
    "mdb-timeout",
    "mdb-timeout-idle",
    "mdb-timeout-vend",
    "mdb-restore-funds",
    "mdb-cashsale-enabled",
    "mdb-ftl-enabled",
    "mdb-display-time",
  ]),
  legacy: new Set(["mdb-addr", "mdb-currency-code", "mdb-scale-factor", "mdb-decimal-places"]),
};

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
  /** Adapter firmware dialect; `current` when unset. */
  firmware?: AdapterFirmware;
  /**
   * While the cashless slave is on the bus the VMC polls it and the adapter prints `r,ACK` for the polls: one line
   * this often. 0: an adapter that prints no r,ACK at all. 500 ms when unset.
   */
  pollAckIntervalMs?: number;
  /** Setting keys the adapter takes, instead of its firmware's usual set (a firmware in between the two). */
  acceptedKeys?: readonly string[];
  /** How long the VMC takes from the reader's DISABLED (its setup done) to READER ENABLE. 0 when unset. */
  vmcEnableDelayMs?: number;
  /**
   * The VMC's own patience with a selection-first VEND REQUEST (always idle): past it the VMC gives up silently
   * (vendRequestExpires). Unset: it waits for the reader's answer.
   */
  selectionFirstPatienceMs?: number;
}

interface VmcEvents {
  /** A line from the host (the driver), garbage included. */
  line: [line: string];
  vendRequested: [item: number, priceText: string];
  approved: [amountText: string, latencyMs: number];
  denied: [];
  vendResult: [result: string];
  /** The VMC gave up on a VEND REQUEST without an answer. */
  requestExpired: [item: number];
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
  /** The open vend request came selection first, without a session (always idle). */
  #sessionless = false;
  /** The VMC is powered and polls the bus (it may be switched off while the adapter stays powered by the Pi). */
  #vmcPowered = true;
  /** The adapter's cashless slave is on (C,1) and on the bus; off at every power-up. */
  #slaveOn = false;
  /** Bumped by every power-up and C,0, so that a delayed step of an earlier enable does nothing. */
  #epoch = 0;
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
  /** `r,ACK` lines sent (the poll stream and the acknowledgements of commands). */
  pollAcks = 0;
  /** Every `c,ERR,...` text the adapter answered, in order. */
  readonly errors: string[] = [];

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
    this.#powerUp();
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

  /**
   * The adapter reboots while the host keeps the serial port open (a Pi HAT reset through its GPIO line or a power
   * dip): its settings are gone, the cashless slave is off the bus, a vend in flight never gets a result, and the
   * adapter says nothing about it by itself. Only the silence of the `r,ACK` stream and the answers to the next
   * commands tell the host.
   */
  reboot(): void {
    this.#timers.cancelAll();
    this.#framer = new LineFramer();
    this.#powerUp();
    this.emit("vendResult", "reboot");
  }

  /** The vending machine is switched off (the adapter stays up on the Pi's power): no polls, no r,ACK, no enable. */
  vmcPowerOff(): void {
    this.#vmcPowered = false;
  }

  get slaveOn(): boolean {
    return this.#slaveOn;
  }

  get firmware(): AdapterFirmware {
    return this.#options.firmware ?? "current";
  }

  #powerUp(): void {
    this.config.clear();
    this.#state = "INACTIVE";
    this.#awaitingApproval = undefined;
    this.#slaveOn = false;
    this.#epoch++;
  }

  setReplyDelay(ms: number): void {
    this.#options.replyDelayMs = ms;
  }

  /** The customer presses a selection: with credit shown, the VMC asks the reader to approve. */
  customerSelects(item: number, priceText: string): boolean {
    // Selection first ("always idle", set by the host with mdb-always-idle=1): the VMC asks with no session open.
    const selectionFirst = this.#state === "ENABLED" && this.config.get("mdb-always-idle") === "1";
    if (this.#state !== "IDLE" && !selectionFirst) return false;
    this.#sessionless = selectionFirst;
    this.#state = "VEND";
    this.#awaitingApproval = { item, priceText };
    this.#vendRequestedAt = performance.now();
    this.vendRequestsInSession++;
    this.#send({ kind: "vendRequest", priceText, item });
    this.emit("vendRequested", item, priceText);
    const patience = this.#options.selectionFirstPatienceMs;
    if (selectionFirst && patience !== undefined) {
      const request = this.#awaitingApproval;
      this.#timers.after(patience, () => {
        if (this.#awaitingApproval === request) this.vendRequestExpires();
      });
    }
    return true;
  }

  /**
   * The adapter's vend timeout ran out before the reader answered the VEND REQUEST: the request is gone (the VMC is
   * back to its session) without a line to the host. An approval sent now is refused with `c,ERR,"VEND -3"`.
   */
  vendRequestExpires(): void {
    if (this.#state !== "VEND" || !this.#awaitingApproval) return;
    const { item } = this.#awaitingApproval;
    this.#awaitingApproval = undefined;
    this.emit("requestExpired", item);
    this.#state = this.#sessionless ? "ENABLED" : "IDLE";
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
        this.#disable();
        return;
      case "setConfig":
        this.#setConfig(command.key, command.value);
        return;
      case "enable":
        this.#enable();
        return;
      case "startSession":
        if (!this.#slaveOn) {
          // After a reboot the slave is off until the host sends C,1 again.
          this.#sendError("cashless is off");
          return;
        }
        if (this.#state !== "ENABLED") {
          // py_mdb_terminal calls START -3 "PeripheralDisabled": the VMC has not enabled the reader.
          this.errors.push("START -3");
          this.#send({ kind: "startRejected", text: "START -3" });
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
      case "denyVend":
        if (this.#state === "VEND" && this.#awaitingApproval) {
          this.#awaitingApproval = undefined;
          this.emit("denied");
          if (this.#sessionless) {
            this.#state = "ENABLED";
            this.#send({ kind: "readerState", state: "ENABLED" });
            return;
          }
          this.#state = "IDLE";
          this.#send({ kind: "sessionIdle" });
          return;
        }
        this.#sendError("VEND -3");
        return;
      case "stop":
        if (this.#state === "IDLE") {
          this.#endSession();
          return;
        }
        // C,STOP ends only a session without an open vend request; an active request is denied with C,VEND,-1
        // (Qibixx cashless slave API). Anything else (a vend under way, no session) is the wrong state.
        this.#sendError("STOP -3");
        return;
      case "display":
        this.displayTexts.push(command.text);
        return;
    }
  }

  #onApproval(amountText: string): void {
    if (this.#state !== "VEND" || !this.#awaitingApproval) {
      // No active vend request (the VMC gave up, or never asked): the adapter refuses the approval.
      this.#sendError("VEND -3");
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
      if (result === "got-reset") {
        this.emit("vendResult", "got-reset");
        this.#send({ kind: "vendFailure", code: 5 });
      } else if (result === "failure") {
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
      if (!this.#options.multivend || this.#sessionless) this.#endSession();
    });
  }

  #disable(): void {
    const legacy = this.firmware === "legacy";
    if (!this.#slaveOn && !legacy) {
      // At power-up the slave is already off: current firmware says so instead of c,0 (docs/mdb-adapters.md).
      this.#sendError("cashless is off");
      return;
    }
    this.#slaveOn = false;
    this.#epoch++;
    this.#timers.cancelAll();
    this.#awaitingApproval = undefined;
    this.#state = "INACTIVE";
    this.#send(legacy ? { kind: "slaveOnline", online: false } : { kind: "enableAck", enabled: false });
  }

  #setConfig(key: string, value: string): void {
    if (this.#slaveOn) {
      // Settings change only while the cashless slave is off (Qibixx configuration docs: C,0 first).
      this.#sendError("cashless is on");
      return;
    }
    const accepted = this.#options.acceptedKeys ?? [...knownKeys[this.firmware]];
    if (!accepted.includes(key)) {
      this.#sendError("SETCONF -1");
      return;
    }
    if (this.config.size === 0) this.setupCount++;
    this.config.set(key, value);
    this.#send({ kind: "setOk" });
  }

  /** C,1: the slave goes on the bus and the VMC runs its reader setup (RESET, SETUP, EXPANSION, READER ENABLE). */
  #enable(): void {
    if (this.#slaveOn) {
      this.#sendError("cashless is on");
      return;
    }
    this.#slaveOn = true;
    const epoch = ++this.#epoch;
    if (this.firmware === "legacy") {
      this.#send({ kind: "slaveOnline", online: true });
      this.#pollAck();
    } else {
      // Order as logged on a real machine (karliatto/ln-vending assets/logs.txt): INACTIVE before c,1.
      this.#send({ kind: "readerState", state: "INACTIVE" });
      this.#send({ kind: "enableAck", enabled: true });
      this.#pollAck();
      // DISABLED is the VMC's reader setup done: a switched-off VMC runs none.
      if (this.#vmcPowered) this.#send({ kind: "readerState", state: "DISABLED" });
      this.#pollAck();
    }
    this.#state = "DISABLED";
    this.#startPollStream(epoch);
    const enableReader = () => {
      if (epoch !== this.#epoch || this.#state !== "DISABLED" || !this.#vmcPowered) return;
      this.#state = "ENABLED";
      this.#send({ kind: "readerState", state: "ENABLED" });
    };
    const delay = this.#options.vmcEnableDelayMs ?? 0;
    if (delay <= 0) enableReader();
    else this.#timers.after(delay, enableReader);
  }

  #startPollStream(epoch: number): void {
    const interval = this.#options.pollAckIntervalMs ?? 500;
    if (interval <= 0) return;
    const tick = () => {
      if (epoch !== this.#epoch || !this.#slaveOn || !this.#vmcPowered) return;
      this.#pollAck();
      this.#timers.after(interval, tick);
    };
    this.#timers.after(interval, tick);
  }

  #pollAck(): void {
    if (!this.#vmcPowered || this.#options.pollAckIntervalMs === 0) return;
    this.pollAcks++;
    this.#send({ kind: "pollAck" });
  }

  #sendError(text: string): void {
    this.errors.push(text);
    this.#send({ kind: "error", text });
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
