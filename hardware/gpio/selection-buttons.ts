import { type Clock, systemClock, type TimerHandle } from "../../platform/clock.ts";
import type { GpioLine } from "./gpio-line.ts";

/**
 * Selection buttons with software debounce: an edge (re)starts a timer of `debounceMs`, and only a level that is
 * still pressed when it fires, after having been released, counts as one press. Done here rather than with onoff's
 * debounceTimeout so that the fake GPIO of the tests and the simulator debounces exactly like the real thing.
 */
export class SelectionButtons {
  readonly #clock: Clock;
  readonly #debounceMs: number;
  readonly #buttons: Array<{ selection: string; line: GpioLine; timer?: TimerHandle; pressed: boolean }> = [];

  constructor(options: {
    buttons: Array<{ selection: string; line: GpioLine }>;
    debounceMs: number;
    onPress: (selection: string) => void;
    clock?: Clock;
  }) {
    this.#clock = options.clock ?? systemClock;
    this.#debounceMs = options.debounceMs;
    for (const { selection, line } of options.buttons) {
      const button: { selection: string; line: GpioLine; timer?: TimerHandle; pressed: boolean } = {
        selection,
        line,
        pressed: line.read() === 1,
      };
      this.#buttons.push(button);
      line.watch(() => {
        if (button.timer) this.#clock.clearTimeout(button.timer);
        button.timer = this.#clock.setTimeout(() => {
          button.timer = undefined;
          const pressed = button.line.read() === 1;
          if (pressed && !button.pressed) options.onPress(selection);
          button.pressed = pressed;
        }, this.#debounceMs);
      });
    }
  }

  close(): void {
    for (const button of this.#buttons) {
      if (button.timer) this.#clock.clearTimeout(button.timer);
      button.line.unwatchAll();
    }
  }
}
