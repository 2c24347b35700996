import type { Logger } from "../../platform/logger.ts";
import type { GpioFactory, GpioLine, GpioValue } from "./gpio-line.ts";
import { GpioUnavailableError, type ResolvedGpioChip, sysfsNumber } from "./sysfs-gpio-chips.ts";

interface OnoffGpio {
  readSync(): GpioValue;
  writeSync(value: GpioValue): void;
  watch(callback: (error: Error | null | undefined, value: GpioValue) => void): void;
  unwatchAll(): void;
  unexport(): void;
}

type OnoffGpioConstructor = new (
  gpio: number,
  direction: "in" | "out" | "high" | "low",
  edge?: "none" | "rising" | "falling" | "both",
  options?: { activeLow?: boolean; reconfigureDirection?: boolean },
) => OnoffGpio;

/**
 * The production GpioFactory: onoff over sysfs, with BCM pins translated through the resolved chip base. onoff is
 * imported here, lazily, so nothing else (and no test) loads its native epoll addon.
 */
export async function createOnoffGpioFactory(chip: ResolvedGpioChip, logger: Logger): Promise<GpioFactory> {
  let Gpio: OnoffGpioConstructor & { accessible: boolean };
  try {
    const module = (await import("onoff")) as unknown as { Gpio: OnoffGpioConstructor & { accessible: boolean } };
    Gpio = module.Gpio;
  } catch (error) {
    throw new GpioUnavailableError(
      `cannot load onoff (its native epoll addon must be built for this Node version): ${String(error)}`,
    );
  }
  if (!Gpio.accessible) {
    throw new GpioUnavailableError("GPIO is not accessible: run as a user in the 'gpio' group on a board with GPIO");
  }
  const wrap = (pin: number, gpio: OnoffGpio): GpioLine => ({
    pin,
    read: () => gpio.readSync(),
    write: (value) => gpio.writeSync(value),
    watch: (listener) =>
      gpio.watch((error, value) => {
        if (error) logger.warn({ err: error, pin }, "GPIO watch error");
        else listener(value);
      }),
    unwatchAll: () => gpio.unwatchAll(),
    release: () => gpio.unexport(),
  });
  const open = (pin: number, create: (number: number) => OnoffGpio): GpioLine => {
    const number = sysfsNumber(chip, pin);
    try {
      return wrap(pin, create(number));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const hint =
        code === "EINVAL"
          ? ` (sysfs number ${number} = base ${chip.base} + ${pin} was refused: is the chip base right? set hardware.chipBase)`
          : code === "EACCES"
            ? " (add the user to the gpio group)"
            : "";
      throw new GpioUnavailableError(`cannot export GPIO ${pin}: ${String(error)}${hint}`);
    }
  };
  return {
    output: (pin, options) =>
      open(pin, (number) => {
        // sysfs "high"/"low" set the raw (physical) level, glitch-free: an active-low relay that must start off
        // starts physically high, so it never clicks on while being exported.
        const physicalHigh = options.activeLow ? options.initial === 0 : options.initial === 1;
        return new Gpio(number, physicalHigh ? "high" : "low", "none", { activeLow: options.activeLow });
      }),
    input: (pin, options) =>
      open(pin, (number) => new Gpio(number, "in", options.edge, { activeLow: options.activeLow })),
  };
}
