import { MdbCashlessMechanism, type MdbCashlessSettings } from "../../hardware/mdb/mdb-cashless-mechanism.ts";
import type { StreamConnector } from "../../hardware/serial/stream-connector.ts";
import { SimulatedSerialPort } from "../../hardware/simulators/simulated-serial-port.ts";
import {
  SpiralBoardSimulator,
  type SpiralBoardSimulatorOptions,
} from "../../hardware/simulators/spiral-board-simulator.ts";
import { VmcSimulator, type VmcSimulatorOptions } from "../../hardware/simulators/vmc-simulator.ts";
import { SpiralBoardMechanism, type SpiralBoardSettings } from "../../hardware/spiral/spiral-board-mechanism.ts";
import type { SelectionRequest, VendMechanism } from "../../hardware/vend-mechanism.ts";
import type { Clock } from "../../platform/clock.ts";
import { silentLogger } from "../../platform/logger.ts";
import type { Catalog } from "../../protocol/catalog.ts";

export const mdbCatalog: Catalog = {
  currency: "EUR",
  products: {
    A1: { name: "Water", sku: "WATER", priceMinor: 150, mdbItem: 11 },
    A2: { name: "Cola", sku: "COLA", priceMinor: 200, mdbItem: 12 },
  },
};

export const spiralCatalog: Catalog = {
  currency: "SEK",
  products: {
    "11": { name: "Kaffe", sku: "COFFEE", priceMinor: 2500 },
    "12": { name: "Te", sku: "TEA", priceMinor: 2000 },
  },
};

export const mdbSettings: MdbCashlessSettings = {
  address: 0x10,
  currencyCode: 0x1978,
  scaleFactor: 1,
  decimalPlaces: 2,
  vendResultTimeoutMs: 10_000,
  approvalTimeoutMs: 3_000,
  replyTimeoutMs: 1_000,
};

/** Collects events of a mechanism, for assertions. */
export function record(mechanism: VendMechanism) {
  const seen = {
    selections: [] as SelectionRequest[],
    links: [] as string[],
    closed: [] as string[],
    faults: [] as string[],
  };
  mechanism.on("selection", (request) => seen.selections.push(request));
  mechanism.on("link", (state) => seen.links.push(state));
  mechanism.on("sessionClosedByMachine", (reason) => seen.closed.push(reason));
  mechanism.on("fault", (fault) => seen.faults.push(fault.code));
  return seen;
}

export function mdbRig(
  options: {
    clock?: Clock;
    vmc?: VmcSimulatorOptions;
    settings?: Partial<MdbCashlessSettings>;
    connect?: StreamConnector;
  } = {},
) {
  const vmc = new VmcSimulator({ ...(options.clock ? { clock: options.clock } : {}), ...options.vmc });
  const port = new SimulatedSerialPort("/dev/serial/by-id/usb-Qibixx_MDB-USB_sim-if00", (stream) => vmc.attach(stream));
  const mechanism = new MdbCashlessMechanism({
    path: port.path,
    connect: options.connect ?? port.connector,
    settings: { ...mdbSettings, ...options.settings },
    catalog: mdbCatalog,
    logger: silentLogger(),
    backoff: { initialMs: 100, maxMs: 400 },
    random: () => 0.5,
    ...(options.clock ? { clock: options.clock } : {}),
  });
  return { vmc, port, mechanism, seen: record(mechanism) };
}

export function spiralRig(
  options: { board?: SpiralBoardSimulatorOptions; settings?: Partial<SpiralBoardSettings> } = {},
) {
  const board = new SpiralBoardSimulator({ pollIntervalMs: 200, vendDurationMs: 1_000, ...options.board });
  const port = new SimulatedSerialPort("/dev/serial/by-id/usb-Prolific-sim-if00-port0", (stream) =>
    board.attach(stream),
  );
  const mechanism = new SpiralBoardMechanism({
    path: port.path,
    connect: port.connector,
    settings: { dropSensor: true, dispenseTimeoutMs: 10_000, ...options.settings },
    catalog: spiralCatalog,
    logger: silentLogger(),
    backoff: { initialMs: 100, maxMs: 400 },
  });
  return { board, port, mechanism, seen: record(mechanism) };
}
