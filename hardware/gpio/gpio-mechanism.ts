import { type Clock, systemClock } from "../../platform/clock.ts";
import type { Logger } from "../../platform/logger.ts";
import type { Catalog } from "../../protocol/catalog.ts";
import { MechanismEmitter } from "../mechanism-emitter.ts";
import type { VendMechanism, VendOutcome } from "../vend-mechanism.ts";
import type { GpioFactory, GpioLine, GpioValue } from "./gpio-line.ts";
import { MotorDrive, type MotorLayout } from "./motor-drive.ts";
import { SelectionButtons } from "./selection-buttons.ts";

export interface GpioMechanismSettings {
  motors: MotorLayout;
  homeSwitchPin?: number;
  dropSensorPin?: number;
  doorLockPin?: number;
  buttons: Record<string, number>;
  debounceMs: number;
  activeLow: boolean;
  /** The spiral must be back home this long after the motor started. */
  motorTimeoutMs: number;
  /** The spiral must have left home this long after the motor started (else it is stuck). */
  leaveHomeMs?: number;
  /** After the motor stops, how long a falling product may still take to cross the beam. */
  dropWindowMs?: number;
}

export interface GpioMechanismOptions {
  settings: GpioMechanismSettings;
  catalog: Catalog;
  /** Opens the GPIO (onoff in production, a fake in tests); called by start(). */
  gpio: () => Promise<GpioFactory>;
  logger: Logger;
  clock?: Clock;
}

interface Lines {
  motors: MotorDrive;
  home?: GpioLine;
  drop?: GpioLine;
  door?: GpioLine;
  buttons?: SelectionButtons;
}

/**
 * A machine wired straight to the SBC's header: motor relays, the spiral's home micro-switch, the drop-sensor beam,
 * a door lock and selection buttons. Evidence ranking (hardware-reference §3.3): a beam edge during or shortly after
 * the motor cycle = delivered; home cycle done but no beam = not delivered (if there is a beam) or delivered by
 * home-cycle (if there is none); the spiral stuck at or away from home = jammed. Beam edges are counted, never levels:
 * a falling product breaks it for milliseconds.
 */
export class GpioMechanism extends MechanismEmitter implements VendMechanism {
  readonly driver = "gpio" as const;
  readonly #options: GpioMechanismOptions;
  readonly #settings: GpioMechanismSettings;
  readonly #clock: Clock;
  readonly #log: Logger;
  #lines: Lines | undefined;
  /** Beam edges seen since start: ordering by count, not time, so an edge just before the motor never counts. */
  #dropEdgeCount = 0;
  #homeListeners = new Set<(value: GpioValue) => void>();
  #dropListeners = new Set<() => void>();
  #vending = false;
  #sessionOpen = false;

  constructor(options: GpioMechanismOptions) {
    const log = options.logger.child({ module: "gpio" });
    super(log);
    this.#log = log;
    this.#options = options;
    this.#settings = options.settings;
    this.#clock = options.clock ?? systemClock;
  }

  isUp(): boolean {
    return this.#lines !== undefined;
  }

  async start(): Promise<void> {
    if (this.#lines) return;
    const gpio = await this.#options.gpio();
    const s = this.#settings;
    const motors = new MotorDrive(s.motors, gpio, s.activeLow);
    const lines: Lines = { motors };
    try {
      if (s.homeSwitchPin !== undefined) {
        const home = gpio.input(s.homeSwitchPin, { activeLow: s.activeLow, edge: "both" });
        home.watch((value) => {
          for (const listener of [...this.#homeListeners]) listener(value);
        });
        lines.home = home;
      }
      if (s.dropSensorPin !== undefined) {
        const drop = gpio.input(s.dropSensorPin, { activeLow: s.activeLow, edge: "both" });
        drop.watch(() => {
          this.#dropEdgeCount++;
          for (const listener of [...this.#dropListeners]) listener();
        });
        lines.drop = drop;
      }
      if (s.doorLockPin !== undefined) lines.door = gpio.output(s.doorLockPin, { activeLow: s.activeLow, initial: 0 });
      const buttons = Object.entries(s.buttons).map(([selection, pin]) => ({
        selection,
        line: gpio.input(pin, { activeLow: s.activeLow, edge: "both" }),
      }));
      if (buttons.length > 0) {
        lines.buttons = new SelectionButtons({
          buttons,
          debounceMs: s.debounceMs,
          clock: this.#clock,
          onPress: (selection) => this.requestSelection(selection),
        });
      }
    } catch (error) {
      motors.release();
      throw error;
    }
    this.#lines = lines;
    this.emit("link", "up");
  }

  async stop(): Promise<void> {
    const lines = this.#lines;
    if (!lines) return;
    this.#lines = undefined;
    lines.motors.release();
    lines.buttons?.close();
    for (const line of [lines.home, lines.drop, lines.door]) {
      line?.unwatchAll();
      line?.release();
    }
    this.emit("link", "down", "stopped");
  }

  async openSession(_budgetMinor: number): Promise<void> {
    this.#sessionOpen = true;
  }

  async closeSession(): Promise<void> {
    this.#sessionOpen = false;
  }

  get sessionOpen(): boolean {
    return this.#sessionOpen;
  }

  requestSelection(selection: string): void {
    if (!this.#options.catalog.products[selection]) {
      this.#log.warn({ selection }, "selection not in the catalog; ignored");
      return;
    }
    this.emit("selection", { selection });
  }

  async deny(selection: string, reason: string): Promise<void> {
    this.#log.info({ selection, reason }, "selection refused");
  }

  /** Opens the door lock for `ms` (technician service). */
  async unlockDoor(ms: number): Promise<void> {
    const door = this.#lines?.door;
    if (!door) throw new Error("no door lock pin is configured");
    door.write(1);
    await new Promise<void>((resolve) => this.#clock.setTimeout(resolve, ms));
    door.write(0);
  }

  async vend(selection: string, _priceMinor: number): Promise<VendOutcome> {
    const lines = this.#lines;
    if (!lines) return { outcome: "not-delivered", evidence: "none", detail: "GPIO is not started" };
    if (!lines.motors.has(selection)) {
      return { outcome: "not-delivered", evidence: "none", detail: `no motor for selection ${selection}` };
    }
    if (this.#vending) return { outcome: "not-delivered", evidence: "none", detail: "another vend is running" };
    this.#vending = true;
    try {
      return await this.#cycle(selection, lines);
    } catch (error) {
      this.#log.error({ err: error, selection }, "vend failed in the GPIO driver");
      return { outcome: "unknown", evidence: "none", detail: String(error) };
    } finally {
      lines.motors.stopAll();
      this.#vending = false;
    }
  }

  async #cycle(selection: string, lines: Lines): Promise<VendOutcome> {
    const s = this.#settings;
    const home = lines.home;
    if (home && home.read() !== 1) {
      this.#fault(selection, "not-home", "the spiral is not at its home position; refusing to turn it");
      return { outcome: "not-delivered", evidence: "none", detail: "spiral not at home before the vend" };
    }
    const startedAt = this.#clock.now();
    const edgesBefore = this.#dropEdgeCount;
    lines.motors.start(selection);
    if (home) {
      const left = await this.#waitForHome(home, 0, s.leaveHomeMs ?? 1_000);
      if (!left) {
        lines.motors.stopAll();
        this.#fault(selection, "stuck-home", "the spiral did not leave its home position");
        return { outcome: "jammed", evidence: "jam", detail: "motor stuck at home" };
      }
      const back = await this.#waitForHome(home, 1, Math.max(0, startedAt + s.motorTimeoutMs - this.#clock.now()));
      lines.motors.stopAll();
      if (!back) {
        this.#fault(selection, "stuck-not-home", "the spiral did not return to its home position");
        return { outcome: "jammed", evidence: "jam", detail: "motor did not return home" };
      }
    } else if (lines.drop) {
      // No home switch: turn until the beam sees the product, at most motorTimeoutMs.
      await this.#waitForDrop(edgesBefore, s.motorTimeoutMs);
      lines.motors.stopAll();
    } else {
      await new Promise<void>((resolve) => this.#clock.setTimeout(resolve, s.motorTimeoutMs));
      lines.motors.stopAll();
      return { outcome: "unknown", evidence: "none", detail: "no home switch and no drop sensor to confirm the vend" };
    }
    if (!lines.drop) return { outcome: "delivered", evidence: "home-cycle" };
    const dropped = await this.#waitForDrop(edgesBefore, s.dropWindowMs ?? 2_000);
    return dropped
      ? { outcome: "delivered", evidence: "drop-sensor" }
      : { outcome: "not-delivered", evidence: "none", detail: "the drop sensor saw nothing" };
  }

  /** Resolves true as soon as the home switch reads `target` (level now, or a later edge), false after `ms`. */
  #waitForHome(home: GpioLine, target: GpioValue, ms: number): Promise<boolean> {
    if (home.read() === target) return Promise.resolve(true);
    return new Promise((resolve) => {
      const listener = (value: GpioValue) => {
        if (value !== target) return;
        this.#homeListeners.delete(listener);
        this.#clock.clearTimeout(timer);
        resolve(true);
      };
      const timer = this.#clock.setTimeout(() => {
        this.#homeListeners.delete(listener);
        resolve(false);
      }, ms);
      this.#homeListeners.add(listener);
    });
  }

  /** True when a beam edge came after the first `edgesBefore` (i.e. since the motor started), waiting up to `ms`. */
  #waitForDrop(edgesBefore: number, ms: number): Promise<boolean> {
    if (this.#dropEdgeCount > edgesBefore) return Promise.resolve(true);
    return new Promise((resolve) => {
      const listener = () => {
        this.#dropListeners.delete(listener);
        this.#clock.clearTimeout(timer);
        resolve(true);
      };
      const timer = this.#clock.setTimeout(() => {
        this.#dropListeners.delete(listener);
        resolve(false);
      }, ms);
      this.#dropListeners.add(listener);
    });
  }

  #fault(selection: string, code: string, message: string): void {
    this.emit("fault", { code: `spiral-${code}`, message: `selection ${selection}: ${message}`, outOfService: false });
  }
}
