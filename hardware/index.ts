import type { AgentConfig } from "../config/schema/agent.ts";
import type { Clock } from "../platform/clock.ts";
import type { Logger } from "../platform/logger.ts";
import type { Catalog } from "../protocol/catalog.ts";
import type { GpioFactory } from "./gpio/gpio-line.ts";
import { GpioMechanism } from "./gpio/gpio-mechanism.ts";
import { MdbCashlessMechanism } from "./mdb/mdb-cashless-mechanism.ts";
import type { SerialBinding } from "./serial/serial-types.ts";
import { nativeSerialBinding, serialPortConnector } from "./serial/stream-connector.ts";
import { SimulatedMechanism } from "./simulators/simulated-mechanism.ts";
import { SpiralBoardMechanism } from "./spiral/spiral-board-mechanism.ts";
import type { VendMechanism } from "./vend-mechanism.ts";

export type HardwareConfig = AgentConfig["hardware"];

export interface VendMechanismDeps {
  logger: Logger;
  clock?: Clock;
  /** Serial binding for mdb/spiral-board; the native one by default (loaded on first open). */
  serialBinding?: SerialBinding;
  /** GPIO for the gpio driver; onoff over sysfs by default (loaded in start()). */
  gpioFactory?: () => Promise<GpioFactory>;
  /** Root of the sysfs GPIO tree, for tests. */
  gpioSysfsRoot?: string;
}

/** Default baud rates of the devices we drive (Qibixx MDB-USB 115200; FA FB boards 57600). */
export const defaultBaudRates = { mdb: 115_200, "spiral-board": 57_600 } as const;

/**
 * The one place the agent gets its vend mechanism from: `hardware.driver` picks the driver, and `simulator` gives
 * the real driver of the chosen kind wired to its simulator. Nothing is opened here; start() does that.
 */
export function createVendMechanism(
  hardware: HardwareConfig,
  catalog: Catalog,
  deps: VendMechanismDeps,
): VendMechanism {
  const clockDeps = deps.clock ? { clock: deps.clock } : {};
  switch (hardware.driver) {
    case "mdb":
      return new MdbCashlessMechanism({
        path: hardware.serial.path,
        connect: serialPortConnector({
          path: hardware.serial.path,
          baudRate: hardware.serial.baudRate ?? defaultBaudRates.mdb,
          binding: deps.serialBinding ?? nativeSerialBinding,
        }),
        settings: {
          address: hardware.address,
          currencyCode: hardware.currencyCode,
          scaleFactor: hardware.scaleFactor,
          decimalPlaces: hardware.decimalPlaces,
          vendResultTimeoutMs: hardware.vendResultTimeoutMs,
          approvalTimeoutMs: hardware.approvalTimeoutMs,
          level: hardware.level,
          thirtyTwoBitMoney: hardware.thirtyTwoBitMoney,
          alwaysIdle: hardware.alwaysIdle,
          sessionIdleTimeoutS: hardware.sessionIdleTimeoutS,
          ...(hardware.vendTimeoutS !== undefined ? { vendTimeoutS: hardware.vendTimeoutS } : {}),
          restoreFunds: hardware.restoreFunds,
          pollSilenceMs: hardware.pollSilenceMs,
        },
        catalog,
        logger: deps.logger,
        ...clockDeps,
      });
    case "spiral-board":
      return new SpiralBoardMechanism({
        path: hardware.serial.path,
        connect: serialPortConnector({
          path: hardware.serial.path,
          baudRate: hardware.serial.baudRate ?? defaultBaudRates["spiral-board"],
          binding: deps.serialBinding ?? nativeSerialBinding,
        }),
        settings: { dropSensor: hardware.dropSensor, dispenseTimeoutMs: hardware.dispenseTimeoutMs },
        catalog,
        logger: deps.logger,
        ...clockDeps,
      });
    case "gpio": {
      const gpio =
        deps.gpioFactory ??
        (async () => {
          // Loaded here, by start(), so that only an agent driving GPIO holds the sysfs and onoff code.
          const { resolveGpioChip } = await import("./gpio/sysfs-gpio-chips.ts");
          const { createOnoffGpioFactory } = await import("./gpio/onoff-gpio-factory.ts");
          const chip = resolveGpioChip({
            labels: hardware.chipLabel,
            ...(hardware.chipBase !== undefined ? { chipBase: hardware.chipBase } : {}),
            ...(deps.gpioSysfsRoot ? { sysfsRoot: deps.gpioSysfsRoot } : {}),
          });
          deps.logger.info({ base: chip.base, label: chip.label, source: chip.source }, "GPIO chip resolved");
          return createOnoffGpioFactory(chip, deps.logger);
        });
      return new GpioMechanism({
        settings: {
          motors: hardware.motors,
          buttons: hardware.buttons,
          debounceMs: hardware.debounceMs,
          activeLow: hardware.activeLow,
          motorTimeoutMs: hardware.motorTimeoutMs,
          leaveHomeMs: hardware.leaveHomeMs,
          dropWindowMs: hardware.dropWindowMs,
          ...(hardware.homeSwitchPin !== undefined ? { homeSwitchPin: hardware.homeSwitchPin } : {}),
          ...(hardware.dropSensorPin !== undefined ? { dropSensorPin: hardware.dropSensorPin } : {}),
          ...(hardware.doorLockPin !== undefined ? { doorLockPin: hardware.doorLockPin } : {}),
        },
        catalog,
        gpio,
        logger: deps.logger,
        ...clockDeps,
      });
    }
    case "simulator":
      return new SimulatedMechanism(hardware, catalog, deps);
  }
}

export { listSerialPorts, type SerialPortEntry } from "./serial/port-listing.ts";
export { type ProbeResult, probePort } from "./serial/probe-port.ts";
export type { SelectionRequest, VendMechanism, VendOutcome } from "./vend-mechanism.ts";
