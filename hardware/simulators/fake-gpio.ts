import { type Clock, systemClock } from "../../platform/clock.ts";
import type { GpioEdge, GpioFactory, GpioLine, GpioValue, InputOptions, OutputOptions } from "../gpio/gpio-line.ts";

interface FakeLineState {
  pin: number;
  direction: "in" | "out";
  edge: GpioEdge;
  value: GpioValue;
  listeners: Array<(value: GpioValue) => void>;
  released: boolean;
}

/**
 * GPIO in memory, in logical values (1 = active). Inputs are driven by the test or a machine model with `set`,
 * `pulse` and `script` (edges fire watchers synchronously, filtered by the line's edge setting, like interrupts);
 * outputs record every write and notify `onOutput` listeners so a model can react to a motor being switched on.
 */
export class FakeGpio implements GpioFactory {
  readonly #clock: Clock;
  readonly #lines = new Map<number, FakeLineState>();
  readonly #outputListeners = new Map<number, Array<(value: GpioValue) => void>>();
  readonly writes: Array<{ pin: number; value: GpioValue; at: number }> = [];

  constructor(options: { clock?: Clock; initial?: Record<number, GpioValue> } = {}) {
    this.#clock = options.clock ?? systemClock;
    for (const [pin, value] of Object.entries(options.initial ?? {})) {
      this.#state(Number(pin)).value = value;
    }
  }

  output(pin: number, options: OutputOptions): GpioLine {
    const state = this.#claim(pin, "out", "none");
    state.value = options.initial;
    return this.#line(state);
  }

  input(pin: number, options: InputOptions): GpioLine {
    return this.#line(this.#claim(pin, "in", options.edge));
  }

  /** The outside world changes an input (switch closes, beam breaks). */
  set(pin: number, value: GpioValue): void {
    const state = this.#state(pin);
    if (state.value === value) return;
    state.value = value;
    const fires =
      state.edge === "both" || (state.edge === "rising" && value === 1) || (state.edge === "falling" && value === 0);
    if (!fires) return;
    for (const listener of [...state.listeners]) listener(value);
  }

  /** A short active pulse (a product crossing the beam for a few ms). */
  pulse(pin: number, widthMs: number): void {
    this.set(pin, 1);
    this.#clock.setTimeout(() => this.set(pin, 0), widthMs);
  }

  /** Input changes at times relative to now. */
  script(steps: Array<{ afterMs: number; pin: number; value: GpioValue }>): void {
    for (const step of steps) this.#clock.setTimeout(() => this.set(step.pin, step.value), step.afterMs);
  }

  value(pin: number): GpioValue {
    return this.#state(pin).value;
  }

  isReleased(pin: number): boolean {
    return this.#lines.get(pin)?.released ?? false;
  }

  onOutput(pin: number, listener: (value: GpioValue) => void): void {
    this.#outputListeners.set(pin, [...(this.#outputListeners.get(pin) ?? []), listener]);
  }

  #state(pin: number): FakeLineState {
    let state = this.#lines.get(pin);
    if (!state) {
      state = { pin, direction: "in", edge: "none", value: 0, listeners: [], released: false };
      this.#lines.set(pin, state);
    }
    return state;
  }

  #claim(pin: number, direction: "in" | "out", edge: GpioEdge): FakeLineState {
    const state = this.#state(pin);
    state.direction = direction;
    state.edge = edge;
    state.released = false;
    return state;
  }

  #line(state: FakeLineState): GpioLine {
    return {
      pin: state.pin,
      read: () => state.value,
      write: (value) => {
        if (state.direction !== "out") throw new Error(`GPIO ${state.pin} is an input`);
        const changed = state.value !== value;
        state.value = value;
        this.writes.push({ pin: state.pin, value, at: this.#clock.now() });
        if (changed) for (const listener of this.#outputListeners.get(state.pin) ?? []) listener(value);
      },
      watch: (listener) => {
        state.listeners.push(listener);
      },
      unwatchAll: () => {
        state.listeners = [];
      },
      release: () => {
        state.released = true;
        state.listeners = [];
      },
    };
  }
}
