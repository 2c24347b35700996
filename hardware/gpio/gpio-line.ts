/**
 * GPIO behind a small interface so the mechanism never touches onoff (a native addon that needs /sys/class/gpio)
 * in tests: production passes the onoff factory, tests and the simulator pass a fake. Values are logical: 1 means
 * "active" (relay on, switch closed, beam broken, button pressed) after the active-low inversion.
 */
export type GpioValue = 0 | 1;
export type GpioEdge = "none" | "rising" | "falling" | "both";

export interface GpioLine {
  /** The BCM pin number (what the config says), not the sysfs number. */
  readonly pin: number;
  read(): GpioValue;
  write(value: GpioValue): void;
  /** Called on each edge with the new value (interrupt-driven: edges, not polled levels). */
  watch(listener: (value: GpioValue) => void): void;
  unwatchAll(): void;
  release(): void;
}

export interface OutputOptions {
  activeLow: boolean;
  initial: GpioValue;
}

export interface InputOptions {
  activeLow: boolean;
  edge: GpioEdge;
}

export interface GpioFactory {
  output(pin: number, options: OutputOptions): GpioLine;
  input(pin: number, options: InputOptions): GpioLine;
}
