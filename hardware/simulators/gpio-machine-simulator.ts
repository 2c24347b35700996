import { type Clock, systemClock } from "../../platform/clock.ts";
import type { MotorLayout } from "../gpio/motor-drive.ts";
import type { FakeGpio } from "./fake-gpio.ts";
import { SimulatorTimers } from "./simulator-timers.ts";

/** What the spiral does on its next turn. */
export type SimulatedSpiral = "success" | "stuck-home" | "stuck-away" | "missed-drop";

export interface GpioMachineSimulatorOptions {
  gpio: FakeGpio;
  motors: MotorLayout;
  homeSwitchPin?: number;
  dropSensorPin?: number;
  buttons?: Record<string, number>;
  clock?: Clock;
  /** One full spiral turn. */
  vendDurationMs?: number;
  /** Time from motor start until the cam leaves the home switch. */
  leaveHomeAfterMs?: number;
  /** The product of this selection physically dropped (as it crosses the beam). */
  onDropped?: (selection: string) => void;
}

/**
 * The mechanics behind fake GPIO: when a selection's motor turns on, the cam leaves the home switch, the product
 * falls through the beam (a few-ms pulse) and the cam comes home a turn later. Jams (stuck at or away from home)
 * and missed drops are scripted per selection; buttons are pressed with contact bounce to exercise the debounce.
 */
export class GpioMachineSimulator {
  readonly #options: GpioMachineSimulatorOptions;
  readonly #clock: Clock;
  readonly #timers: SimulatorTimers;
  readonly next = new Map<string, SimulatedSpiral[]>();
  readonly turns: string[] = [];

  constructor(options: GpioMachineSimulatorOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#timers = new SimulatorTimers(this.#clock);
    const { gpio, motors } = options;
    if (options.homeSwitchPin !== undefined) gpio.set(options.homeSwitchPin, 1);
    const selectionsOn = () => {
      if (motors.layout === "per-slot") {
        return Object.entries(motors.pins)
          .filter(([, pin]) => gpio.value(pin) === 1)
          .map(([selection]) => selection);
      }
      return Object.entries(motors.slots)
        .filter(([, [row, column]]) => {
          const rowPin = motors.rows[row];
          const columnPin = motors.columns[column];
          return (
            rowPin !== undefined && columnPin !== undefined && gpio.value(rowPin) === 1 && gpio.value(columnPin) === 1
          );
        })
        .map(([selection]) => selection);
    };
    const pins = motors.layout === "per-slot" ? Object.values(motors.pins) : [...motors.rows, ...motors.columns];
    for (const pin of new Set(pins)) {
      gpio.onOutput(pin, (value) => {
        if (value !== 1) return;
        for (const selection of selectionsOn()) this.#turn(selection);
      });
    }
  }

  script(selection: string, ...results: SimulatedSpiral[]): void {
    this.next.set(selection, [...(this.next.get(selection) ?? []), ...results]);
  }

  /** A customer presses a selection button (with 3 bounces within 2 ms, then held for 80 ms). */
  press(selection: string): void {
    const pin = this.#options.buttons?.[selection];
    if (pin === undefined) throw new Error(`no button for selection ${selection}`);
    const { gpio } = this.#options;
    gpio.set(pin, 1);
    gpio.set(pin, 0);
    gpio.set(pin, 1);
    this.#timers.after(80, () => gpio.set(pin, 0));
  }

  stop(): void {
    this.#timers.cancelAll();
  }

  #turn(selection: string): void {
    this.turns.push(selection);
    const result = this.next.get(selection)?.shift() ?? "success";
    const { gpio, homeSwitchPin, dropSensorPin } = this.#options;
    const duration = this.#options.vendDurationMs ?? 1_500;
    if (result === "stuck-home") return;
    if (homeSwitchPin !== undefined)
      this.#timers.after(this.#options.leaveHomeAfterMs ?? 100, () => gpio.set(homeSwitchPin, 0));
    if (result !== "missed-drop" && result !== "stuck-away") {
      this.#timers.after(Math.round(duration * 0.6), () => {
        this.#options.onDropped?.(selection);
        if (dropSensorPin !== undefined) gpio.pulse(dropSensorPin, 5);
      });
    }
    if (homeSwitchPin !== undefined && result !== "stuck-away")
      this.#timers.after(duration, () => gpio.set(homeSwitchPin, 1));
  }
}
