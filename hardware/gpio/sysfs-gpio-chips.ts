import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * sysfs GPIO numbers are the chip's base plus the BCM pin. Since kernel 6.6 the base is dynamic (Pi 4: 512 on
 * `pinctrl-bcm2711`; Pi 5: 571 on `pinctrl-rp1`; older kernels: 0), so we read it from
 * /sys/class/gpio/gpiochip*\/{base,ngpio,label} (hardware-reference §4), unless the config pins it (`chipBase`).
 */
export interface GpioChipInfo {
  chip: string;
  base: number;
  ngpio: number;
  label: string;
}

export interface ResolvedGpioChip {
  base: number;
  /** How many lines the chip has; unknown when the base came from the config override. */
  ngpio?: number;
  label?: string;
  source: "config" | "sysfs";
}

export class GpioUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GpioUnavailableError";
  }
}

export function readGpioChips(sysfsRoot: string): GpioChipInfo[] {
  const chips: GpioChipInfo[] = [];
  for (const chip of readdirSync(sysfsRoot).filter((name) => /^gpiochip\d+$/.test(name))) {
    try {
      const read = (file: string) => readFileSync(join(sysfsRoot, chip, file), "utf8").trim();
      const base = Number(read("base"));
      const ngpio = Number(read("ngpio"));
      if (!Number.isInteger(base) || !Number.isInteger(ngpio)) continue;
      chips.push({ chip, base, ngpio, label: read("label") });
    } catch {
      // a chip directory without the attributes we need: not ours
    }
  }
  return chips.sort((a, b) => a.base - b.base);
}

export function resolveGpioChip(options: {
  sysfsRoot?: string;
  /** Labels to look for, separated by `|` (the config's chipLabel), in order of preference. */
  labels: string;
  chipBase?: number;
}): ResolvedGpioChip {
  const sysfsRoot = options.sysfsRoot ?? "/sys/class/gpio";
  if (!existsSync(sysfsRoot)) {
    throw new GpioUnavailableError(
      `${sysfsRoot} is missing: this kernel has no sysfs GPIO interface (CONFIG_GPIO_SYSFS is off, as on recent ` +
        "Raspberry Pi OS releases), and the onoff driver needs it. Use a kernel with sysfs GPIO, or drive the pins " +
        "through libgpiod (gpioset/gpiomon, node-libgpiod) instead.",
    );
  }
  if (options.chipBase !== undefined) return { base: options.chipBase, source: "config" };
  const wanted = options.labels
    .split("|")
    .map((label) => label.trim())
    .filter(Boolean);
  const chips = readGpioChips(sysfsRoot);
  for (const label of wanted) {
    const chip = chips.find((candidate) => candidate.label === label);
    if (chip) return { base: chip.base, ngpio: chip.ngpio, label: chip.label, source: "sysfs" };
  }
  const found = chips.map((chip) => `${chip.chip} "${chip.label}" base ${chip.base}`).join(", ") || "none";
  throw new GpioUnavailableError(
    `no GPIO chip labelled ${wanted.join(" or ")} under ${sysfsRoot} (found: ${found}); set hardware.chipLabel to ` +
      "the right label, or hardware.chipBase to the base to use",
  );
}

/** BCM pin -> sysfs number, refusing pins the chip does not have. */
export function sysfsNumber(chip: ResolvedGpioChip, pin: number): number {
  if (chip.ngpio !== undefined && pin >= chip.ngpio) {
    throw new GpioUnavailableError(`GPIO ${pin} is beyond the ${chip.ngpio} lines of ${chip.label ?? "the chip"}`);
  }
  return chip.base + pin;
}
