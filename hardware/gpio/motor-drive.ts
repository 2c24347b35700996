import type { GpioFactory, GpioLine } from "./gpio-line.ts";

export type MotorLayout =
  | { layout: "per-slot"; pins: Record<string, number> }
  | { layout: "matrix"; rows: number[]; columns: number[]; slots: Record<string, [number, number]> };

/**
 * Spiral motor relays: one output per selection, or a row x column matrix where a motor turns only while both its
 * row and its column are driven. `stopAll` is the safety net every error path calls.
 */
export class MotorDrive {
  readonly #linesBySelection = new Map<string, GpioLine[]>();
  readonly #all: GpioLine[] = [];

  constructor(layout: MotorLayout, gpio: GpioFactory, activeLow: boolean) {
    const output = (pin: number) => {
      const line = gpio.output(pin, { activeLow, initial: 0 });
      this.#all.push(line);
      return line;
    };
    if (layout.layout === "per-slot") {
      for (const [selection, pin] of Object.entries(layout.pins)) this.#linesBySelection.set(selection, [output(pin)]);
      return;
    }
    const rows = layout.rows.map(output);
    const columns = layout.columns.map(output);
    for (const [selection, [row, column]] of Object.entries(layout.slots)) {
      const rowLine = rows[row];
      const columnLine = columns[column];
      if (!rowLine || !columnLine) {
        this.stopAll();
        throw new RangeError(`selection ${selection}: matrix position [${row}, ${column}] is outside the rows/columns`);
      }
      this.#linesBySelection.set(selection, [rowLine, columnLine]);
    }
  }

  has(selection: string): boolean {
    return this.#linesBySelection.has(selection);
  }

  start(selection: string): void {
    this.stopAll(); // never two motors at once (a matrix would also turn the crossing motors)
    for (const line of this.#linesBySelection.get(selection) ?? []) line.write(1);
  }

  stopAll(): void {
    for (const line of this.#all) line.write(0);
  }

  release(): void {
    this.stopAll();
    for (const line of this.#all) line.release();
  }
}
