import type { AgentConfig } from "../../config/schema/agent.ts";
import { type Clock, systemClock } from "../../platform/clock.ts";
import type { Logger } from "../../platform/logger.ts";
import { currencyExponent } from "../../platform/money.ts";
import type { Catalog } from "../../protocol/catalog.ts";
import { GpioMechanism } from "../gpio/gpio-mechanism.ts";
import type { MotorLayout } from "../gpio/motor-drive.ts";
import { MdbCashlessMechanism } from "../mdb/mdb-cashless-mechanism.ts";
import { MdbMoney } from "../mdb/mdb-money.ts";
import { MechanismEmitter } from "../mechanism-emitter.ts";
import { SpiralBoardMechanism } from "../spiral/spiral-board-mechanism.ts";
import type { MechanismEvents, VendMechanism, VendOutcome } from "../vend-mechanism.ts";
import { FakeGpio } from "./fake-gpio.ts";
import { GpioMachineSimulator } from "./gpio-machine-simulator.ts";
import { PhysicalLedger } from "./physical-ledger.ts";
import { SimulatedSerialPort } from "./simulated-serial-port.ts";
import { SpiralBoardSimulator } from "./spiral-board-simulator.ts";
import { VmcSimulator } from "./vmc-simulator.ts";

export type SimulatorHardware = Extract<AgentConfig["hardware"], { driver: "simulator" }>;

/** Handles on the simulated machine, for the demo, the tests and a technician's "press a button" in --simulate. */
export interface SimulatedMachine {
  vmc?: VmcSimulator;
  board?: SpiralBoardSimulator;
  gpio?: FakeGpio;
  mechanics?: GpioMachineSimulator;
  /** In-memory serial port of the mdb and spiral-board simulations (unplug/replug). */
  port?: SimulatedSerialPort;
  /** MDB item numbers used for each selection (catalog's own mdbItem, or assigned). */
  mdbItems: Map<string, number>;
}

const simulatedPins = { home: 900, drop: 901, door: 902, firstMotor: 910, firstButton: 950 } as const;

/**
 * `driver: simulator`: the REAL driver of the simulated kind, wired over an in-memory serial port (or fake GPIO) to
 * its simulator, so --simulate and the demo run the same protocol code a machine does. Selections made on the kiosk
 * become the simulated customer's key presses (MDB) or go straight to the driver (dispensers).
 */
export class SimulatedMechanism extends MechanismEmitter implements VendMechanism {
  readonly driver = "simulator" as const;
  readonly simulate: SimulatorHardware["simulate"];
  readonly machine: SimulatedMachine;
  readonly inner: VendMechanism;
  readonly #catalog: Catalog;
  readonly #log: Logger;
  readonly #forwarders: Array<() => void> = [];

  constructor(config: SimulatorHardware, catalog: Catalog, deps: { logger: Logger; clock?: Clock }) {
    const log = deps.logger.child({ module: "simulator", simulate: config.simulate });
    super(log);
    this.#log = log;
    this.#catalog = catalog;
    this.simulate = config.simulate;
    const clock = deps.clock ?? systemClock;
    const built = buildSimulation(config, catalog, log, clock);
    this.inner = built.inner;
    this.machine = built.machine;
    for (const event of ["selection", "selectionWithdrawn", "sessionClosedByMachine", "link", "fault"] as const) {
      const forward = (...args: unknown[]) => (this.emit as (e: string, ...a: unknown[]) => void)(event, ...args);
      this.inner.on(event, forward as MechanismEvents[typeof event]);
      this.#forwarders.push(() => this.inner.off(event, forward as MechanismEvents[typeof event]));
    }
  }

  start(): Promise<void> {
    return this.inner.start();
  }

  async stop(): Promise<void> {
    this.machine.mechanics?.stop();
    await this.inner.stop();
    this.machine.vmc?.detach();
    this.machine.board?.detach();
  }

  isUp(): boolean {
    return this.inner.isUp();
  }

  lastSignOfLifeAt(): number | undefined {
    return this.inner.lastSignOfLifeAt?.();
  }

  openSession(budgetMinor: number, heldRequestId?: number): Promise<void> {
    return this.inner.openSession(budgetMinor, heldRequestId);
  }

  closeSession(): Promise<void> {
    return this.inner.closeSession();
  }

  requestSelection(selection: string): void {
    const vmc = this.machine.vmc;
    if (!vmc) {
      this.inner.requestSelection(selection);
      return;
    }
    const product = this.#catalog.products[selection];
    const item = this.machine.mdbItems.get(selection);
    if (!product || item === undefined) {
      this.#log.warn({ selection }, "selection not in the catalog; ignored");
      return;
    }
    const money = simulatedMdbMoney(this.#catalog);
    const priceText = money.minorToWire(product.priceMinor, "exact") ?? "0";
    if (!vmc.customerSelects(item, priceText))
      this.#log.info({ selection }, "the simulated VMC has no credit to vend with");
  }

  vend(selection: string, priceMinor: number, requestId?: number): Promise<VendOutcome> {
    return this.inner.vend(selection, priceMinor, requestId);
  }

  deny(selection: string, reason: string, requestId?: number): Promise<void> {
    return this.inner.deny(selection, reason, requestId);
  }

  async showText(text: string): Promise<void> {
    await this.inner.showText?.(text);
  }
}

function simulatedMdbMoney(catalog: Catalog): MdbMoney {
  return new MdbMoney({
    scaleFactor: 1,
    decimalPlaces: currencyExponent(catalog.currency),
    currency: catalog.currency,
  });
}

/** Catalog products keep their mdbItem; the others get free numbers, so any catalog can be simulated as MDB. */
export function assignMdbItems(catalog: Catalog): Map<string, number> {
  const items = new Map<string, number>();
  const used = new Set<number>();
  for (const [selection, product] of Object.entries(catalog.products)) {
    if (product.mdbItem !== undefined) {
      items.set(selection, product.mdbItem);
      used.add(product.mdbItem);
    }
  }
  let next = 1;
  for (const selection of Object.keys(catalog.products)) {
    if (items.has(selection)) continue;
    while (used.has(next)) next++;
    items.set(selection, next);
    used.add(next);
  }
  return items;
}

function buildSimulation(
  config: SimulatorHardware,
  catalog: Catalog,
  logger: Logger,
  clock: Clock,
): { inner: VendMechanism; machine: SimulatedMachine } {
  const selections = Object.keys(catalog.products);
  const mdbItems = assignMdbItems(catalog);
  const fastBackoff = { initialMs: 100, maxMs: 1_000 };
  const ledger = config.ledgerFile !== undefined ? new PhysicalLedger(config.ledgerFile) : undefined;
  const dropped = (selection: string | undefined) => {
    if (selection !== undefined) ledger?.dropped(selection, clock.now());
  };
  if (config.simulate === "mdb") {
    const selectionOfItem = new Map([...mdbItems].map(([selection, item]) => [item, selection]));
    const vmc = new VmcSimulator({
      clock,
      vendDurationMs: config.vendDurationMs,
      // Like most VMCs with a cashless reader today: the reader decides when the session ends (after one vend for a
      // single-vend session, on Done or a spent budget for a multi-vend one). A single-vend VMC would end every
      // session after the first product, and the agent would read that as the customer leaving.
      multivend: true,
      onDropped: (item) => dropped(selectionOfItem.get(item)),
      ...(config.vmcPatienceS !== undefined ? { selectionFirstPatienceMs: config.vmcPatienceS * 1_000 } : {}),
    });
    // A test (or the demo's visitor) sees in the log when the simulated VMC stops waiting for the reader.
    vmc.on("requestExpired", (item) =>
      logger.info({ selection: selectionOfItem.get(item), item }, "the simulated VMC gave up waiting for the reader"),
    );
    const port = new SimulatedSerialPort("sim:mdb-adapter", (stream) => vmc.attach(stream));
    const withItems: Catalog = {
      ...catalog,
      products: Object.fromEntries(
        Object.entries(catalog.products).map(([selection, product]) => [
          selection,
          { ...product, mdbItem: mdbItems.get(selection) },
        ]),
      ),
    };
    const inner = new MdbCashlessMechanism({
      path: port.path,
      connect: port.connector,
      catalog: withItems,
      settings: {
        address: 0x10,
        currencyCode: 0x1978,
        scaleFactor: 1,
        decimalPlaces: currencyExponent(catalog.currency),
        vendResultTimeoutMs: config.vendDurationMs + 30_000,
        approvalTimeoutMs: 3_000,
        alwaysIdle: config.alwaysIdle ?? false,
        ...(config.alwaysIdle ? { vendTimeoutS: config.vendTimeoutS ?? 60 } : {}),
      },
      logger,
      clock,
      backoff: fastBackoff,
    });
    return { inner, machine: { vmc, port, mdbItems } };
  }
  if (config.simulate === "spiral-board") {
    const numbers = new Map(selections.map((selection, index) => [selection, index + 1]));
    const selectionOfNumber = new Map([...numbers].map(([selection, number]) => [number, selection]));
    const board = new SpiralBoardSimulator({
      clock,
      vendDurationMs: config.vendDurationMs,
      onDropped: (number) => dropped(selectionOfNumber.get(number)),
    });
    const port = new SimulatedSerialPort("sim:spiral-board", (stream) => board.attach(stream));
    const inner = new SpiralBoardMechanism({
      path: port.path,
      connect: port.connector,
      catalog,
      settings: { dropSensor: true, dispenseTimeoutMs: config.vendDurationMs + 30_000 },
      selectionNumbers: numbers,
      logger,
      clock,
      backoff: fastBackoff,
    });
    return { inner, machine: { board, port, mdbItems } };
  }
  const gpio = new FakeGpio({ clock });
  const motors: MotorLayout = {
    layout: "per-slot",
    pins: Object.fromEntries(selections.map((selection, index) => [selection, simulatedPins.firstMotor + index])),
  };
  const buttons = Object.fromEntries(
    selections.map((selection, index) => [selection, simulatedPins.firstButton + index]),
  );
  const mechanics = new GpioMachineSimulator({
    gpio,
    motors,
    homeSwitchPin: simulatedPins.home,
    dropSensorPin: simulatedPins.drop,
    buttons,
    clock,
    vendDurationMs: config.vendDurationMs,
    onDropped: dropped,
  });
  const inner = new GpioMechanism({
    settings: {
      motors,
      homeSwitchPin: simulatedPins.home,
      dropSensorPin: simulatedPins.drop,
      doorLockPin: simulatedPins.door,
      buttons,
      debounceMs: 10,
      activeLow: false,
      motorTimeoutMs: config.vendDurationMs + 2_000,
    },
    catalog,
    gpio: async () => gpio,
    logger,
    clock,
  });
  return { inner, machine: { gpio, mechanics, mdbItems } };
}
