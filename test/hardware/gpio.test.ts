import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { GpioMechanism, type GpioMechanismSettings } from "../../hardware/gpio/gpio-mechanism.ts";
import { GpioUnavailableError, resolveGpioChip, sysfsNumber } from "../../hardware/gpio/sysfs-gpio-chips.ts";
import { FakeGpio } from "../../hardware/simulators/fake-gpio.ts";
import { GpioMachineSimulator } from "../../hardware/simulators/gpio-machine-simulator.ts";
import { silentLogger } from "../../platform/logger.ts";
import type { Catalog } from "../../protocol/catalog.ts";
import { record } from "./rigs.ts";

const labels = "pinctrl-bcm2711|pinctrl-bcm2835|pinctrl-rp1";

describe("sysfs GPIO number resolution (fake sysfs tree)", () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), "seqr-gpio-"));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  function chip(name: string, base: number, ngpio: number, label: string) {
    mkdirSync(join(root, name), { recursive: true });
    writeFileSync(join(root, name, "base"), `${base}\n`);
    writeFileSync(join(root, name, "ngpio"), `${ngpio}\n`);
    writeFileSync(join(root, name, "label"), `${label}\n`);
  }

  it("Pi 4 on kernel 6.6: base 512 (and ignores the expander chip)", () => {
    chip("gpiochip512", 512, 58, "pinctrl-bcm2711");
    chip("gpiochip570", 570, 8, "raspberrypi-exp-gpio");
    const resolved = resolveGpioChip({ sysfsRoot: root, labels });
    expect(resolved).toEqual({ base: 512, ngpio: 58, label: "pinctrl-bcm2711", source: "sysfs" });
    expect(sysfsNumber(resolved, 17)).toBe(529);
  });

  it("Pi 5: rp1 at 571", () => {
    chip("gpiochip0", 0, 32, "some-other");
    chip("gpiochip571", 571, 54, "pinctrl-rp1");
    expect(sysfsNumber(resolveGpioChip({ sysfsRoot: root, labels }), 17)).toBe(588);
  });

  it("old kernels: base 0", () => {
    chip("gpiochip0", 0, 54, "pinctrl-bcm2835");
    expect(sysfsNumber(resolveGpioChip({ sysfsRoot: root, labels }), 17)).toBe(17);
  });

  it("the config override wins", () => {
    chip("gpiochip512", 512, 58, "pinctrl-bcm2711");
    expect(resolveGpioChip({ sysfsRoot: root, labels, chipBase: 399 })).toEqual({ base: 399, source: "config" });
  });

  it("explains a missing chip label and pins beyond the chip", () => {
    chip("gpiochip0", 0, 8, "unrelated");
    expect(() => resolveGpioChip({ sysfsRoot: root, labels })).toThrow(
      /no GPIO chip labelled.*found: gpiochip0 "unrelated"/,
    );
    expect(() => sysfsNumber({ base: 0, ngpio: 8, label: "x", source: "sysfs" }, 17)).toThrow(/beyond/);
  });

  it("a clear error when /sys/class/gpio does not exist", () => {
    const missing = join(root, "no-such-dir");
    expect(() => resolveGpioChip({ sysfsRoot: missing, labels })).toThrow(GpioUnavailableError);
    expect(() => resolveGpioChip({ sysfsRoot: missing, labels })).toThrow(/no sysfs GPIO interface.*libgpiod/s);
  });
});

const catalog: Catalog = {
  currency: "EUR",
  products: {
    "1": { name: "Apple", sku: "APPLE", priceMinor: 80 },
    "2": { name: "Banana", sku: "BANANA", priceMinor: 90 },
  },
};

const base: GpioMechanismSettings = {
  motors: { layout: "per-slot", pins: { "1": 17, "2": 27 } },
  homeSwitchPin: 23,
  dropSensorPin: 24,
  doorLockPin: 25,
  buttons: { "1": 5, "2": 6 },
  debounceMs: 10,
  activeLow: false,
  motorTimeoutMs: 4_000,
  leaveHomeMs: 1_000,
  dropWindowMs: 2_000,
};

async function rig(settings: Partial<GpioMechanismSettings> = {}) {
  const merged = { ...base, ...settings };
  const gpio = new FakeGpio();
  const machine = new GpioMachineSimulator({
    gpio,
    motors: merged.motors,
    ...(merged.homeSwitchPin !== undefined ? { homeSwitchPin: merged.homeSwitchPin } : {}),
    ...(merged.dropSensorPin !== undefined ? { dropSensorPin: merged.dropSensorPin } : {}),
    buttons: merged.buttons,
    vendDurationMs: 1_500,
  });
  const mechanism = new GpioMechanism({ settings: merged, catalog, gpio: async () => gpio, logger: silentLogger() });
  const seen = record(mechanism);
  await mechanism.start();
  return { gpio, machine, mechanism, seen };
}

describe("GPIO mechanism with fake GPIO and scripted mechanics", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("turns the motor, sees home left and back, and the beam edge: delivered by drop sensor; motor off after", async () => {
    const { gpio, mechanism } = await rig();
    const outcome = mechanism.vend("1", 80);
    await vi.advanceTimersByTimeAsync(1);
    expect(gpio.value(17)).toBe(1);
    await vi.advanceTimersByTimeAsync(1_600);
    await expect(outcome).resolves.toEqual({ outcome: "delivered", evidence: "drop-sensor" });
    expect(gpio.value(17)).toBe(0);
    await mechanism.stop();
    expect(gpio.isReleased(17)).toBe(true);
  });

  it("stuck at home (never leaves within leaveHomeMs): jammed, motor stopped", async () => {
    const { gpio, machine, mechanism, seen } = await rig();
    machine.script("1", "stuck-home");
    const outcome = mechanism.vend("1", 80);
    await vi.advanceTimersByTimeAsync(1_001);
    await expect(outcome).resolves.toEqual({ outcome: "jammed", evidence: "jam", detail: "motor stuck at home" });
    expect(gpio.value(17)).toBe(0);
    expect(seen.faults).toEqual(["spiral-stuck-home"]);
  });

  it("never back home within motorTimeoutMs: jammed; the next vend is refused while not at home", async () => {
    const { machine, mechanism } = await rig();
    machine.script("2", "stuck-away");
    const outcome = mechanism.vend("2", 90);
    await vi.advanceTimersByTimeAsync(4_001);
    await expect(outcome).resolves.toMatchObject({ outcome: "jammed", detail: "motor did not return home" });
    await expect(mechanism.vend("2", 90)).resolves.toMatchObject({ outcome: "not-delivered", detail: /not at home/ });
  });

  it("a full turn without a beam edge is not delivered (missed drop)", async () => {
    const { machine, mechanism } = await rig();
    machine.script("1", "missed-drop");
    const outcome = mechanism.vend("1", 80);
    await vi.advanceTimersByTimeAsync(1_500 + 2_001);
    await expect(outcome).resolves.toEqual({
      outcome: "not-delivered",
      evidence: "none",
      detail: "the drop sensor saw nothing",
    });
  });

  it("counts beam edges, not levels: a beam left broken before the vend does not count; a late edge within the window does", async () => {
    const { gpio, machine, mechanism } = await rig();
    gpio.set(24, 1); // something blocks the beam before the vend: a level, no edge during the cycle
    machine.script("1", "missed-drop");
    const first = mechanism.vend("1", 80);
    await vi.advanceTimersByTimeAsync(3_600);
    await expect(first).resolves.toMatchObject({ outcome: "not-delivered" });
    gpio.set(24, 0);
    machine.script("1", "missed-drop");
    const second = mechanism.vend("1", 80);
    await vi.advanceTimersByTimeAsync(1_500 + 800);
    gpio.pulse(24, 3); // the product falls late, inside the drop window
    await vi.advanceTimersByTimeAsync(10);
    await expect(second).resolves.toEqual({ outcome: "delivered", evidence: "drop-sensor" });
  });

  it("drives a row x column matrix: both lines on during the turn, all off after", async () => {
    const motors = {
      layout: "matrix" as const,
      rows: [17, 27],
      columns: [22, 10],
      slots: { "1": [0, 1] as [number, number], "2": [1, 0] as [number, number] },
    };
    const { gpio, mechanism } = await rig({ motors });
    const outcome = mechanism.vend("2", 90);
    await vi.advanceTimersByTimeAsync(1);
    expect([gpio.value(17), gpio.value(27), gpio.value(22), gpio.value(10)]).toEqual([0, 1, 1, 0]);
    await vi.advanceTimersByTimeAsync(1_600);
    await expect(outcome).resolves.toMatchObject({ outcome: "delivered" });
    expect([gpio.value(17), gpio.value(27), gpio.value(22), gpio.value(10)]).toEqual([0, 0, 0, 0]);
  });

  it("buttons: a bouncing press is one selection after the debounce time", async () => {
    const { machine, seen } = await rig();
    machine.press("2");
    await vi.advanceTimersByTimeAsync(5);
    expect(seen.selections).toEqual([]);
    await vi.advanceTimersByTimeAsync(10);
    expect(seen.selections).toEqual([{ selection: "2" }]);
    await vi.advanceTimersByTimeAsync(200);
    expect(seen.selections).toHaveLength(1);
  });

  it("without a home switch the motor turns until the beam sees the product", async () => {
    const { gpio, mechanism } = await rig({ homeSwitchPin: undefined });
    const outcome = mechanism.vend("1", 80);
    await vi.advanceTimersByTimeAsync(950);
    await expect(outcome).resolves.toEqual({ outcome: "delivered", evidence: "drop-sensor" });
    expect(gpio.value(17)).toBe(0);
  });

  it("opens the door lock for the given time", async () => {
    const { gpio, mechanism } = await rig();
    const open = mechanism.unlockDoor(3_000);
    expect(gpio.value(25)).toBe(1);
    await vi.advanceTimersByTimeAsync(3_000);
    await open;
    expect(gpio.value(25)).toBe(0);
  });
});
