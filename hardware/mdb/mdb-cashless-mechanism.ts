import { type Clock, systemClock, type TimerHandle } from "../../platform/clock.ts";
import type { Logger } from "../../platform/logger.ts";
import type { Catalog } from "../../protocol/catalog.ts";
import { LinkReport } from "../link-report.ts";
import { MechanismEmitter } from "../mechanism-emitter.ts";
import type { BackoffSettings } from "../serial/backoff.ts";
import { SerialTransport } from "../serial/serial-transport.ts";
import type { StreamConnector } from "../serial/stream-connector.ts";
import type { SelectionRequest, VendMechanism, VendOutcome } from "../vend-mechanism.ts";
import {
  type AdapterSettingValues,
  judgeSetupAnswer,
  type PlannedSetting,
  plannedSettings,
  type SetupStep,
  setupRetryPauseMs,
} from "./adapter-setup.ts";
import { LineFramer } from "./line-framer.ts";
import { MdbMoney } from "./mdb-money.ts";
import { type AdapterMessage, encodeAdapterCommand, type HostCommand, parseAdapterLine } from "./qibixx-codec.ts";

export interface MdbCashlessSettings {
  /** MDB cashless address: 0x10 (#1) or 0x60 (#2). */
  address: number;
  /** MDB currency code, e.g. 0x1978 for EUR. */
  currencyCode: number;
  scaleFactor: number;
  decimalPlaces: number;
  /** After approving, how long to wait for VEND SUCCESS/FAILURE before the outcome is unknown. */
  vendResultTimeoutMs: number;
  /**
   * How long the agent has to answer a VEND REQUEST. Past it we deny (C,STOP) ourselves, so the VMC gets an answer
   * inside the reader's response time; a late vend() is then refused and never approved.
   */
  approvalTimeoutMs: number;
  /**
   * The MDB level the VMC and reader talk (1 when unset). Levels 1 and 2 carry money as 16-bit raw values (655.35 at
   * scale factor 1 and two decimals), so funds above that are offered capped, never more than was reserved.
   */
  level?: 1 | 2 | 3;
  /** Level 3 with the 32-bit money option negotiated by the VMC: funds up to 32 bits. Ignored below level 3. */
  thirtyTwoBitMoney?: boolean;
  /** How long each setup step and session start may wait for the adapter's reply. */
  replyTimeoutMs?: number;
  /** How many times an unanswered setup step is sent (with growing pauses) before the setup fails. 3 when unset. */
  setupAttempts?: number;
  /**
   * MDB "always idle" (selection first): the VMC may ask for a vend without a session. Set explicitly at every setup
   * (`mdb-always-idle`); off when unset.
   */
  alwaysIdle?: boolean;
  /** The adapter's session idle timeout in seconds (`mdb-timeout-idle`); 60 when unset. */
  sessionIdleTimeoutS?: number;
  /**
   * The adapter's vend timeout in seconds (`mdb-timeout-vend`): how long it keeps a vend request open for our answer.
   * When unset, two seconds more than approvalTimeoutMs, so that our own deny always comes first.
   */
  vendTimeoutS?: number;
  /** Restore the funds of a failed vend to the session (`mdb-restore-funds`); on when unset. */
  restoreFunds?: boolean;
  /**
   * The adapter prints `r,ACK` for every VMC poll of the enabled slave. Once it has, this long without one means the
   * slave is off the bus (the adapter rebooted behind the open port): the driver sets the adapter up again. 5000 when
   * unset; 0 turns the check off.
   */
  pollSilenceMs?: number;
  /**
   * An idle adapter says nothing by itself, so while no vend is in flight we ask for its version this often: the
   * answer is the "sign of life" the systemd watchdog's hardware check needs, and a wedged link shows up as silence.
   */
  heartbeatMs?: number;
}

export interface MdbCashlessOptions {
  path: string;
  connect: StreamConnector;
  settings: MdbCashlessSettings;
  catalog: Catalog;
  logger: Logger;
  clock?: Clock;
  backoff?: BackoffSettings;
  random?: () => number;
}

interface PendingRequest {
  /** Sequence number of this VEND REQUEST (SelectionRequest.requestId). */
  requestId: number;
  selection: string;
  item: number;
  priceMinor: number;
  priceText: string;
  /** Asked selection first, with no session open (always idle). */
  sessionless: boolean;
  timer: TimerHandle;
  /** approve/deny sent, or auto-denied by the approval timeout. */
  answered: "open" | "approved" | "denied" | "expired" | "cancelled";
}

interface VendInFlight {
  selection: string;
  timer: TimerHandle;
  finish: (outcome: VendOutcome) => void;
}

interface ReplyWaiter {
  accept: (message: AdapterMessage) => "resolve" | Error | undefined;
  resolve: () => void;
  reject: (error: Error) => void;
  timer: TimerHandle;
}

/**
 * The machine's cashless reader, played through a Qibixx-style MDB adapter: the VMC asks (VEND REQUEST), the agent
 * decides locally, we approve or deny, and only the VMC's VEND SUCCESS counts as delivered. Every adapter (re)connect
 * repeats the volatile setup (C,0, SETCONF..., C,1). A vend approved but without a result when the link drops, the
 * adapter resets or the result times out is `unknown`: never billed automatically.
 */
export class MdbCashlessMechanism extends MechanismEmitter implements VendMechanism {
  readonly driver = "mdb" as const;
  readonly #settings: MdbCashlessSettings;
  readonly #money: MdbMoney;
  readonly #selectionByItem = new Map<number, string>();
  readonly #transport: SerialTransport;
  readonly #framer = new LineFramer();
  readonly #clock: Clock;
  readonly #log: Logger;
  #readerEnabled = false;
  readonly #linkReport = new LinkReport((state, detail) => this.emit("link", state, detail));
  #sessionOpen = false;
  #closingByUs = false;
  #pending: PendingRequest | undefined;
  #lastRequestId = 0;
  #inFlight: VendInFlight | undefined;
  #waiters: ReplyWaiter[] = [];
  #garbageLines = 0;
  #lastLineAt: number | undefined;
  #heartbeat: TimerHandle | undefined;
  /** The spelling of the address key the adapter accepted last (firmware versions differ: mdb-address, mdb-addr). */
  #addressKey: string | undefined;
  /** Bumped when the link goes down, so that a setup step in progress stops retrying on a dead link. */
  #linkEpoch = 0;
  /** A setup (after an open, or again on the open port) is under way: its own answers are not alarms. */
  #settingUp = false;
  /** Armed by each r,ACK after setup; firing means the slave is no longer polled (see pollSilenceMs). */
  #pollSilence: TimerHandle | undefined;
  #pollAckDuringSetup = false;

  constructor(options: MdbCashlessOptions) {
    const log = options.logger.child({ module: "mdb" });
    super(log);
    this.#log = log;
    this.#settings = options.settings;
    this.#clock = options.clock ?? systemClock;
    this.#money = new MdbMoney({
      scaleFactor: options.settings.scaleFactor,
      decimalPlaces: options.settings.decimalPlaces,
      currency: options.catalog.currency,
    });
    for (const [selection, product] of Object.entries(options.catalog.products)) {
      if (product.mdbItem !== undefined) this.#selectionByItem.set(product.mdbItem, selection);
    }
    this.#transport = new SerialTransport({
      path: options.path,
      connect: options.connect,
      onOpen: () => this.#setUpAdapter(),
      logger: log,
      clock: this.#clock,
      ...(options.backoff ? { backoff: options.backoff } : {}),
      ...(options.random ? { random: options.random } : {}),
    });
    this.#transport.on("data", (chunk) => this.#onData(chunk));
    this.#transport.on("down", (reason) => this.#onLinkDown(reason));
    // ENABLED may arrive while setup is still finishing, or only later: report up once both hold.
    this.#transport.on("up", () => {
      if (this.#readerEnabled) this.#linkReport.report("up");
    });
    this.#transport.on("error", (error) =>
      this.emit("fault", { code: `serial-${error.kind}`, message: error.message, outOfService: true }),
    );
  }

  /** Lines from the adapter that were not protocol (counted, never acted on). */
  get garbageLineCount(): number {
    return this.#garbageLines + this.#framer.overflowCount;
  }

  isUp(): boolean {
    return this.#transport.isUp() && this.#readerEnabled && !this.#settingUp;
  }

  /** When the adapter last sent a protocol line (garbage does not count as life). */
  lastSignOfLifeAt(): number | undefined {
    return this.#lastLineAt;
  }

  start(): Promise<void> {
    return this.#linkReport.start(this.isUp(), () => this.#transport.start());
  }

  async stop(): Promise<void> {
    if (this.#heartbeat) this.#clock.clearTimeout(this.#heartbeat);
    this.#heartbeat = undefined;
    this.#disarmPollSilence();
    this.#finishInFlight({ outcome: "unknown", evidence: "link-lost", detail: "driver stopped during the vend" });
    // A request still waiting for our answer (selection first holds one for up to a minute) is answered before the
    // port closes, so the VMC does not wait out its own timeout.
    const open = this.#pending;
    if (open?.answered === "open" && this.#transport.isUp()) await this.#deny(open, "the reader is stopping");
    this.#dropPending("driver stopped");
    await this.#transport.stop();
    this.#readerEnabled = false;
    this.#linkReport.report("down", "stopped");
  }

  async openSession(budgetMinor: number, heldRequestId?: number): Promise<void> {
    if (!this.isUp()) throw new Error("the MDB reader is not enabled by the vending machine");
    const held = this.#pending;
    if (heldRequestId !== undefined && held?.requestId === heldRequestId && held.answered === "open") {
      // Selection first: the VMC is waiting in its VEND REQUEST, which C,VEND answers; a C,START now would offer
      // credit in the middle of that request. The session is the request's, and ends when the VMC goes back to ENABLED.
      this.#log.info({ selection: held.selection, budgetMinor }, "session for the selection the VMC holds");
      this.#sessionOpen = true;
      this.#closingByUs = false;
      return;
    }
    const raw = this.#money.toRaw(budgetMinor, "floor");
    if (raw === undefined || raw === 0) throw new RangeError(`budget ${budgetMinor} cannot be offered as MDB funds`);
    // Never more than the bus can carry: the VMC would read a wrapped (smaller or garbage) value.
    const funds = this.#money.toWire(Math.min(raw, this.#maxFundsRaw()));
    let slaveOff = false;
    let refused = false;
    const idle = this.#waitForReply("session start", (message) => {
      // Only the answer to START carries the funds: a bare `c,STATUS,IDLE` still in flight from the previous
      // session's last vend must not be taken for it.
      if (message.kind === "sessionIdle" && message.fundsText !== undefined) return "resolve";
      if (message.kind === "startRejected") {
        refused = true;
        return new Error(`the adapter refused the session: ${message.text}`);
      }
      if (message.kind === "error" && message.text === "cashless is off") {
        slaveOff = true;
        return new Error("the adapter's cashless slave is off (the adapter rebooted)");
      }
      return undefined;
    });
    try {
      await this.#send({ kind: "startSession", fundsText: funds });
      await idle;
    } catch (error) {
      idle.catch(() => {});
      // No answer at all, or the slave is off: the adapter lost its setup behind the open port (issue 19).
      if (slaveOff || (!refused && this.#transport.isUp())) this.#slaveLost(`no session start: ${String(error)}`);
      throw error;
    }
    this.#sessionOpen = true;
    this.#closingByUs = false;
  }

  async closeSession(): Promise<void> {
    if (!this.#sessionOpen) return;
    this.#sessionOpen = false;
    this.#closingByUs = true;
    // C,STOP only ends a session with no open vend request: an open one is denied first (C,VEND,-1), else the adapter
    // answers STOP -3 and the VMC keeps waiting (docs/mdb-adapters.md).
    const pending = this.#pending;
    if (pending && pending.answered === "open") await this.#deny(pending, "session closed by the agent");
    this.#dropPending("session closed by the agent");
    const ended = this.#waitForReply("session end", (message) =>
      message.kind === "readerState" || (message.kind === "error" && /^STOP\b/.test(message.text))
        ? "resolve"
        : undefined,
    );
    try {
      await this.#send({ kind: "stop" });
      await ended;
    } catch (error) {
      ended.catch(() => {});
      this.#log.warn({ err: error }, "no session end from the adapter; the VMC ends the session by its own timeout");
    } finally {
      this.#closingByUs = false;
    }
  }

  requestSelection(selection: string): void {
    // The VMC's keypad makes MDB selections; a kiosk selection cannot start a vend on an MDB machine.
    this.#log.warn({ selection }, "selection from outside the VMC ignored: on MDB machines the VMC asks");
  }

  async vend(selection: string, priceMinor: number, requestId?: number): Promise<VendOutcome> {
    const pending = this.#pending;
    if (!pending || pending.selection !== selection) {
      return { outcome: "not-delivered", evidence: "none", detail: `no vend request pending for ${selection}` };
    }
    if (requestId !== undefined && requestId !== pending.requestId) {
      // A late decision for an earlier request (auto-denied, then the VMC asked again): it must not approve the new
      // one. The new request gets its own decision (or the approval timeout denies it).
      this.#log.warn({ selection, requestId, pendingRequestId: pending.requestId }, "decision for a stale request");
      return {
        outcome: "not-delivered",
        evidence: "none",
        detail: `the decision was for vend request ${requestId}, the pending one is ${pending.requestId}`,
      };
    }
    if (pending.answered === "expired") {
      this.#pending = undefined;
      return {
        outcome: "not-delivered",
        evidence: "none",
        detail: `approval came after ${this.#settings.approvalTimeoutMs} ms; the request was already denied`,
      };
    }
    if (pending.answered !== "open") {
      return { outcome: "not-delivered", evidence: "none", detail: `the request was already ${pending.answered}` };
    }
    const amountText = this.#money.minorToWire(priceMinor, "exact");
    if (amountText === undefined) {
      await this.#deny(pending, "price not representable on MDB");
      return { outcome: "not-delivered", evidence: "none", detail: `price ${priceMinor} is not representable on MDB` };
    }
    if (priceMinor !== pending.priceMinor) {
      // The agent decided (and journaled) another price than the VMC asks for this request: approving would vend at a
      // price the agent never decided on. Deny; the customer may choose again.
      await this.#deny(pending, "price differs from the decided one");
      return {
        outcome: "not-delivered",
        evidence: "none",
        detail: `price ${priceMinor} decided, the VMC asks ${pending.priceMinor}: denied`,
      };
    }
    this.#clock.clearTimeout(pending.timer);
    pending.answered = "approved";
    this.#pending = undefined;
    const outcome = new Promise<VendOutcome>((resolve) => {
      const timer = this.#clock.setTimeout(
        () =>
          this.#finishInFlight({
            outcome: "unknown",
            evidence: "none",
            detail: `no vend result within ${this.#settings.vendResultTimeoutMs} ms`,
          }),
        this.#settings.vendResultTimeoutMs,
      );
      this.#inFlight = { selection, timer, finish: resolve };
    });
    try {
      await this.#send({ kind: "approve", amountText });
    } catch (error) {
      this.#finishInFlight({
        outcome: "unknown",
        evidence: "link-lost",
        detail: `approval not sent: ${String(error)}`,
      });
    }
    return outcome;
  }

  async deny(selection: string, reason: string, requestId?: number): Promise<void> {
    const pending = this.#pending;
    if (!pending || pending.selection !== selection || pending.answered !== "open") return;
    if (requestId !== undefined && requestId !== pending.requestId) return; // a newer request: not this denial's
    await this.#deny(pending, reason);
  }

  async showText(text: string): Promise<void> {
    if (!this.#transport.isUp()) return;
    await this.#send({ kind: "display", text }).catch((error: unknown) =>
      this.#log.debug({ err: error }, "display text not sent"),
    );
  }

  async #deny(pending: PendingRequest, reason: string): Promise<void> {
    this.#clock.clearTimeout(pending.timer);
    pending.answered = "denied";
    if (this.#pending === pending) this.#pending = undefined;
    this.#log.info({ selection: pending.selection, reason }, "vend denied");
    await this.#send({ kind: "denyVend" }).catch((error: unknown) => this.#log.warn({ err: error }, "deny not sent"));
  }

  async #setUpAdapter(): Promise<void> {
    this.#settingUp = true;
    this.#pollAckDuringSetup = false;
    this.#disarmPollSilence();
    try {
      await this.#runSetup();
    } finally {
      this.#settingUp = false;
    }
    // Set up again behind a port that stayed open (the transport's "up" came long ago): the VMC may already have
    // enabled the reader after our C,1.
    if (this.isUp()) this.#linkReport.report("up");
    // The adapter printed r,ACK right after C,1 (it does, docs/mdb-adapters.md): the silence check starts now.
    if (this.#pollAckDuringSetup) this.#armPollSilence();
  }

  async #runSetup(): Promise<void> {
    this.#framer.reset();
    this.#readerEnabled = false;
    const disabled = await this.#converse("disable", { kind: "disable" }, "C,0");
    if ("refused" in disabled) throw new Error(`the adapter refused C,0: ${disabled.refused}`);
    // An adapter that answers in the older dialect most likely also wants the older spelling of the address key.
    const preferredKey = this.#addressKey ?? (disabled.legacy ? "mdb-addr" : undefined);
    for (const setting of plannedSettings(this.#settingValues(), preferredKey)) await this.#applySetting(setting);
    // An ENABLED printed before our C,1 (a line from before an adapter reboot) says nothing about this setup.
    this.#readerEnabled = false;
    const enabled = await this.#converse("enable", { kind: "enable" }, "C,1");
    if ("refused" in enabled) throw new Error(`the adapter refused C,1: ${enabled.refused}`);
    const s = this.#settings;
    this.#log.info(
      { address: s.address, scaleFactor: s.scaleFactor, dialect: enabled.legacy ? "older" : "current" },
      "MDB adapter set up",
    );
    this.#scheduleHeartbeat();
  }

  /** The largest raw money value the MDB level carries: 16 bits, 32 at level 3 with the 32-bit option. */
  #maxFundsRaw(): number {
    const s = this.#settings;
    return (s.level ?? 1) === 3 && s.thirtyTwoBitMoney ? 0xffff_ffff : 0xffff;
  }

  #settingValues(): AdapterSettingValues {
    const s = this.#settings;
    return {
      address: s.address,
      currencyCode: s.currencyCode,
      scaleFactor: s.scaleFactor,
      decimalPlaces: s.decimalPlaces,
      alwaysIdle: s.alwaysIdle ?? false,
      sessionIdleTimeoutS: s.sessionIdleTimeoutS ?? 60,
      // Selection first, the customer pays while the VMC waits: a minute unless configured. Otherwise just above our own
      // approval timeout, so that our deny answers the VMC first.
      vendTimeoutS: s.vendTimeoutS ?? (s.alwaysIdle ? 60 : Math.ceil(s.approvalTimeoutMs / 1_000) + 2),
      restoreFunds: s.restoreFunds ?? true,
    };
  }

  /** Sends one setting, trying its other key spellings when refused; a refused optional setting is skipped. */
  async #applySetting(setting: PlannedSetting): Promise<void> {
    const refusals: string[] = [];
    for (const key of setting.keys) {
      const verdict = await this.#converse(
        "setting",
        { kind: "setConfig", key, value: setting.value },
        `SETCONF ${key}`,
      );
      if ("answered" in verdict) {
        if (setting.keys.length > 1) this.#addressKey = key;
        return;
      }
      refusals.push(`${key}=${setting.value}: ${verdict.refused}`);
    }
    if (setting.required) throw new Error(`the adapter refused ${refusals.join("; ")}`);
    this.#log.warn({ refusals }, "the adapter firmware does not take this setting; its default stays");
  }

  /**
   * One step of the setup conversation: sends the command and waits for its own answer (judgeSetupAnswer). An
   * unanswered command is sent again after a growing pause, up to `setupAttempts` times; then the setup fails and the
   * serial transport reopens the port with its own backoff. Resolves with the answer or the adapter's refusal.
   */
  async #converse(
    step: SetupStep,
    command: Exclude<HostCommand, { kind: "garbage" }>,
    what: string,
  ): Promise<{ answered: true; legacy: boolean } | { refused: string }> {
    const attempts = this.#settings.setupAttempts ?? 3;
    const epoch = this.#linkEpoch;
    for (let attempt = 1; ; attempt++) {
      let verdict: ReturnType<typeof judgeSetupAnswer>;
      const answered = this.#waitForReply(what, (message) => {
        verdict = judgeSetupAnswer(step, message);
        return verdict ? "resolve" : undefined;
      });
      try {
        await this.#send(command);
        await answered;
        if (verdict) return verdict;
      } catch (error) {
        answered.catch(() => {});
        if (attempt >= attempts || epoch !== this.#linkEpoch) throw error;
        this.#log.debug({ step: what, attempt }, "no answer to a setup step; sending it again");
      }
      await new Promise<void>((resolve) => this.#clock.setTimeout(resolve, setupRetryPauseMs(attempt)));
    }
  }

  #scheduleHeartbeat(): void {
    if (this.#heartbeat) this.#clock.clearTimeout(this.#heartbeat);
    this.#heartbeat = this.#clock.setTimeout(() => {
      // During a vend the VMC's own lines are life enough, and nothing should interleave with its exchange.
      if (this.#transport.isUp() && !this.#inFlight && !this.#pending && !this.#settingUp) {
        this.#send({ kind: "version" }).catch((error: unknown) =>
          this.#log.debug({ err: error }, "heartbeat not sent"),
        );
      }
      this.#scheduleHeartbeat();
    }, this.#settings.heartbeatMs ?? 15_000);
    this.#heartbeat.unref?.();
  }

  async #send(command: Exclude<HostCommand, { kind: "garbage" }>): Promise<void> {
    const line = encodeAdapterCommand(command);
    this.#log.trace({ line: line.trimEnd() }, "to adapter");
    await this.#transport.write(line);
  }

  #waitForReply(what: string, accept: ReplyWaiter["accept"]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter: ReplyWaiter = {
        accept,
        resolve,
        reject,
        timer: this.#clock.setTimeout(() => {
          this.#waiters = this.#waiters.filter((w) => w !== waiter);
          reject(new Error(`no answer from the MDB adapter to ${what}`));
        }, this.#settings.replyTimeoutMs ?? 2_000),
      };
      this.#waiters.push(waiter);
    });
  }

  #onData(chunk: Buffer): void {
    for (const line of this.#framer.push(chunk)) {
      const message = parseAdapterLine(line);
      if (message.kind === "garbage") {
        this.#garbageLines++;
        this.#log.debug({ line: JSON.stringify(line).slice(0, 80) }, "ignored a line that is not adapter protocol");
        continue;
      }
      this.#lastLineAt = this.#clock.now();
      this.#log.trace({ line }, "from adapter");
      for (const waiter of [...this.#waiters]) {
        const verdict = waiter.accept(message);
        if (verdict === undefined) continue;
        this.#clock.clearTimeout(waiter.timer);
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        if (verdict === "resolve") waiter.resolve();
        else waiter.reject(verdict);
      }
      this.#handle(message);
    }
  }

  #handle(message: AdapterMessage): void {
    switch (message.kind) {
      case "readerState":
        this.#onReaderState(message.state);
        return;
      case "sessionIdle":
        return;
      case "vendRequest":
        this.#onVendRequest(message.priceText, message.item);
        return;
      case "vendSuccess":
        if (!this.#inFlight) {
          this.#log.warn("VEND SUCCESS with no approved vend in flight; ignored");
          return;
        }
        this.#finishInFlight({ outcome: "delivered", evidence: "vend-success" });
        return;
      case "vendFailure":
        if (!this.#inFlight) {
          // ERR,VEND 3 "the transaction must be cancelled" while a request waits for our answer: that request is gone.
          if (this.#pending?.answered === "open")
            this.#dropPending(`the adapter cancelled the request (VEND ${message.code})`);
          else this.#log.warn({ code: message.code }, "VEND failure with no approved vend in flight; ignored");
          return;
        }
        if (message.code === 5) {
          // VEND 5: the reader was reset during the vend ("GotReset"); whether the product came out is not known.
          this.#finishInFlight({
            outcome: "unknown",
            evidence: "restart",
            detail: "ERR,VEND 5: reader reset mid-vend",
          });
          return;
        }
        this.#finishInFlight({
          outcome: "not-delivered",
          evidence: "vend-failure",
          detail: `ERR,VEND ${message.code}`,
        });
        return;
      case "pollAck":
        if (this.#settingUp) this.#pollAckDuringSetup = true;
        else this.#armPollSilence();
        return;
      case "slaveOnline":
        if (!message.online && !this.#settingUp) this.#slaveLost("the adapter says its cashless slave is OFFLINE");
        return;
      case "error":
        if (message.text === "cashless is off" && !this.#settingUp) {
          this.#slaveLost("the adapter says cashless is off");
          return;
        }
        if (/^VEND -\d+$/.test(message.text) && this.#inFlight) {
          // The adapter refused our C,VEND (VEND -3: no active request any more, the VMC gave up; VEND -2: bad
          // payload): the VMC was never approved, so nothing can have been vended.
          this.#finishInFlight({
            outcome: "not-delivered",
            evidence: "none",
            detail: `the adapter refused the approval: ${message.text}`,
          });
          return;
        }
        this.#log.warn({ text: message.text }, "adapter error");
        return;
      default:
        return;
    }
  }

  #onReaderState(state: "INACTIVE" | "DISABLED" | "ENABLED"): void {
    if (state === "ENABLED") {
      if (this.#inFlight) {
        this.#finishInFlight({
          outcome: "unknown",
          evidence: "restart",
          detail: "session ended without a vend result",
        });
      }
      this.#dropPending("the VMC ended the session");
      if (this.#sessionOpen && !this.#closingByUs) {
        this.#sessionOpen = false;
        this.emit("sessionClosedByMachine", "session complete");
      }
      this.#readerEnabled = true;
      if (this.isUp()) this.#linkReport.report("up");
      return;
    }
    // INACTIVE/DISABLED: the VMC (or the adapter after a reset) took the reader out of service.
    if (this.#inFlight) {
      this.#finishInFlight({ outcome: "unknown", evidence: "restart", detail: `reader went ${state} mid-vend` });
    }
    this.#dropPending(`reader ${state}`);
    if (this.#sessionOpen) {
      this.#sessionOpen = false;
      this.emit("sessionClosedByMachine", `reader ${state.toLowerCase()} by the VMC`);
    }
    this.#readerEnabled = false;
    this.#linkReport.report("down", `the VMC set the reader ${state}`);
  }

  #onVendRequest(priceText: string, item: number): void {
    const existing = this.#pending;
    if (existing && existing.item === item && existing.priceText === priceText && existing.answered === "open") {
      return; // the VMC repeated its request: handlers are idempotent (hardware-reference §1.7)
    }
    if (this.#inFlight) {
      this.#finishInFlight({
        outcome: "unknown",
        evidence: "restart",
        detail: "a new vend request came before the result",
      });
    }
    if (existing) this.#dropPending("replaced by a new vend request");
    const priceMinor = this.#money.wireToMinor(priceText);
    const selection = this.#selectionByItem.get(item);
    // Selection first (always idle): the VMC may ask with no session; the customer then pays for this one product.
    const sessionless = !this.#sessionOpen && (this.#settings.alwaysIdle ?? false);
    // A reader still being set up (or not enabled by the VMC) takes no vend: a request now (a VMC asking selection
    // first while the adapter is set up again behind the open port) is answered with the deny every dialect takes.
    const notSetUp = this.#settingUp || !this.isUp();
    if (notSetUp || priceMinor === undefined || selection === undefined || (!this.#sessionOpen && !sessionless)) {
      const reason = notSetUp
        ? "the reader is not set up"
        : priceMinor === undefined
          ? `price ${priceText} not understood`
          : selection === undefined
            ? `MDB item ${item} is not in the catalog`
            : "no session is open";
      this.#log.warn({ item, priceText }, `vend request denied: ${reason}`);
      void this.#send({ kind: "denyVend" }).catch(() => {});
      return;
    }
    this.#lastRequestId += 1;
    const answerWithinMs = this.#answerWithinMs(sessionless);
    const pending: PendingRequest = {
      requestId: this.#lastRequestId,
      selection,
      item,
      priceMinor,
      priceText,
      sessionless,
      answered: "open",
      timer: this.#clock.setTimeout(() => {
        if (pending.answered !== "open") return;
        pending.answered = "expired";
        this.#log.warn({ selection }, "no approval in time; denying so the VMC is answered");
        void this.#send({ kind: "denyVend" }).catch(() => {});
        this.#withdrawn(pending, "no approval in time");
      }, answerWithinMs),
    };
    this.#pending = pending;
    const request: SelectionRequest = {
      selection,
      priceMinor,
      mdbItem: item,
      requestId: pending.requestId,
      ...(sessionless ? { sessionless: true, answerBy: this.#clock.now() + answerWithinMs } : {}),
    };
    this.emit("selection", request);
  }

  /**
   * How long a vend request stays open for the agent's answer. In a session the decision is local and quick
   * (approvalTimeoutMs). Selection first, the customer still has to pay: up to a second before the adapter's own vend
   * timeout (mdb-timeout-vend), so that our deny, not the adapter's, answers the VMC.
   */
  #answerWithinMs(sessionless: boolean): number {
    const approval = this.#settings.approvalTimeoutMs;
    if (!sessionless) return approval;
    return Math.max(approval, this.#settingValues().vendTimeoutS * 1_000 - 1_000);
  }

  #dropPending(reason: string): void {
    const pending = this.#pending;
    if (!pending) return;
    this.#clock.clearTimeout(pending.timer);
    this.#pending = undefined;
    this.#log.debug({ selection: pending.selection, reason }, "pending vend request dropped");
    if (pending.answered === "open") {
      pending.answered = "cancelled";
      this.#withdrawn(pending, reason);
    }
  }

  /** Tells the agent that a request it may still be deciding on (selection first: waiting for a payment) is gone. */
  #withdrawn(pending: PendingRequest, reason: string): void {
    this.emit("selectionWithdrawn", { selection: pending.selection, requestId: pending.requestId, reason });
  }

  #finishInFlight(outcome: VendOutcome): void {
    const inFlight = this.#inFlight;
    if (!inFlight) return;
    this.#inFlight = undefined;
    this.#clock.clearTimeout(inFlight.timer);
    this.#log.info({ selection: inFlight.selection, ...outcome }, "vend finished");
    inFlight.finish(outcome);
  }

  #armPollSilence(): void {
    const silenceMs = this.#settings.pollSilenceMs ?? 5_000;
    if (silenceMs <= 0 || this.#settingUp) return;
    this.#disarmPollSilence();
    this.#pollSilence = this.#clock.setTimeout(() => {
      this.#pollSilence = undefined;
      this.#slaveLost(`no r,ACK for ${silenceMs} ms: the VMC no longer polls the reader`);
    }, silenceMs);
    this.#pollSilence.unref?.();
  }

  #disarmPollSilence(): void {
    if (this.#pollSilence) this.#clock.clearTimeout(this.#pollSilence);
    this.#pollSilence = undefined;
  }

  /**
   * The cashless slave is off the bus while the port stays open (the adapter rebooted, or lost its setup): what was
   * under way ends like a restart, and the setup runs again on the open port. If that fails, the port is reopened
   * with the transport's backoff. Called on events only (an answer, a silence after r,ACKs), so it cannot spin: a
   * silence needs new r,ACKs after the setup before it can fire again.
   */
  #slaveLost(reason: string): void {
    if (this.#settingUp || !this.#transport.isUp()) return;
    this.#log.warn({ reason }, "the MDB reader is off the bus; setting the adapter up again");
    this.#disarmPollSilence();
    this.#finishInFlight({ outcome: "unknown", evidence: "restart", detail: reason });
    this.#dropPending(reason);
    if (this.#sessionOpen) {
      this.#sessionOpen = false;
      this.emit("sessionClosedByMachine", "the reader went off the bus");
    }
    this.#readerEnabled = false;
    this.#linkReport.report("down", reason);
    this.#setUpAdapter().catch((error: unknown) => {
      this.#log.warn({ err: error }, "setting the adapter up again failed; reopening the port");
      this.#transport.reopen(`setup after '${reason}' failed`);
    });
  }

  #onLinkDown(reason: string): void {
    this.#disarmPollSilence();
    this.#linkEpoch++;
    for (const waiter of this.#waiters) {
      this.#clock.clearTimeout(waiter.timer);
      waiter.reject(new Error(`MDB adapter link lost: ${reason}`));
    }
    this.#waiters = [];
    this.#finishInFlight({ outcome: "unknown", evidence: "link-lost", detail: reason });
    this.#dropPending("link lost");
    if (this.#sessionOpen) {
      this.#sessionOpen = false;
      this.emit("sessionClosedByMachine", "link lost");
    }
    this.#readerEnabled = false;
    this.#linkReport.report("down", reason);
  }
}
