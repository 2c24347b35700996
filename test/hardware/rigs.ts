import { expect, vi } from "vitest";
import { MdbCashlessMechanism, type MdbCashlessSettings } from "../../hardware/mdb/mdb-cashless-mechanism.ts";
import type { StreamConnector } from "../../hardware/serial/stream-connector.ts";
import { SimulatedSerialPort } from "../../hardware/simulators/simulated-serial-port.ts";
import {
  SpiralBoardSimulator,
  type SpiralBoardSimulatorOptions,
} from "../../hardware/simulators/spiral-board-simulator.ts";
import { VmcSimulator, type VmcSimulatorOptions } from "../../hardware/simulators/vmc-simulator.ts";
import { SpiralBoardMechanism, type SpiralBoardSettings } from "../../hardware/spiral/spiral-board-mechanism.ts";
import type { SelectionRequest, VendMechanism, VendOutcome } from "../../hardware/vend-mechanism.ts";
import type { Clock } from "../../platform/clock.ts";
import { type Logger, silentLogger } from "../../platform/logger.ts";
import type { Catalog } from "../../protocol/catalog.ts";
import { eventually } from "../helpers/eventually.ts";

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
    withdrawn: [] as Array<{ selection: string; requestId?: number; reason: string }>,
  };
  mechanism.on("selection", (request) => seen.selections.push(request));
  mechanism.on("selectionWithdrawn", (withdrawn) => seen.withdrawn.push(withdrawn));
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
    logger?: Logger;
  } = {},
) {
  const vmc = new VmcSimulator({ ...(options.clock ? { clock: options.clock } : {}), ...options.vmc });
  const port = new SimulatedSerialPort("/dev/serial/by-id/usb-Qibixx_MDB-USB_sim-if00", (stream) => vmc.attach(stream));
  const mechanism = new MdbCashlessMechanism({
    path: port.path,
    connect: options.connect ?? port.connector,
    settings: { ...mdbSettings, ...options.settings },
    catalog: mdbCatalog,
    logger: options.logger ?? silentLogger(),
    backoff: { initialMs: 100, maxMs: 400 },
    random: () => 0.5,
    ...(options.clock ? { clock: options.clock } : {}),
  });
  return { vmc, port, mechanism, seen: record(mechanism) };
}

/** Advances the fake clock (vi.useFakeTimers) and lets the promises it released run. */
export async function settle(ms = 0): Promise<void> {
  await vi.advanceTimersByTimeAsync(ms);
}

/** An MDB rig on the fake clock, started and set up (the VMC enables the reader at once unless told otherwise). */
export async function startedMdbRig(options: Parameters<typeof mdbRig>[0] = {}) {
  const rig = mdbRig(options);
  rig.mechanism.start().catch(() => {});
  await settle(100);
  return rig;
}

/** A started MDB rig with a session open on 10.00 of funds (the VMC shows the credit). */
export async function inSession(options: Parameters<typeof startedMdbRig>[0] = {}) {
  const rig = await startedMdbRig(options);
  await Promise.all([rig.mechanism.openSession(1_000), settle(1)]);
  expect(rig.vmc.state).toBe("IDLE");
  return rig;
}

/**
 * In an open session on the fake clock: selection 11 at 1.50 asked and approved (request 1), and the VMC never reports
 * the result. Returns the vend's outcome, still to come (wrapped: awaiting this helper must not await the vend).
 */
export async function approvedWithoutResult(
  rig: ReturnType<typeof mdbRig>,
): Promise<{ outcome: Promise<VendOutcome> }> {
  rig.vmc.nextResults.push("no-reply");
  rig.vmc.customerSelects(11, "1.50");
  await settle(1);
  const outcome = rig.mechanism.vend("A1", 150, 1);
  await settle(1);
  expect(rig.vmc.approvals).toEqual(["1.50"]);
  return { outcome };
}

/** Host lines the simulated adapter received, with the fake time each arrived at. */
export function timeline(vmc: VmcSimulator) {
  const lines: Array<{ line: string; at: number }> = [];
  vmc.on("line", (line) => lines.push({ line, at: Date.now() }));
  return lines;
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

/**
 * A customer's vend that the VMC never answers: a session of 10.00, selection 11 at 1.50 approved, and then silence.
 * Resolves once the approval reached the VMC, with the vend's outcome still to come (what a reboot or an unplug ends).
 */
export async function vendLeftInFlight(
  vmc: VmcSimulator,
  mechanism: VendMechanism,
  seen: ReturnType<typeof record>,
): Promise<{ outcome: Promise<VendOutcome> }> {
  await mechanism.openSession(1_000);
  vmc.nextResults.push("no-reply");
  vmc.customerSelects(11, "1.50");
  await eventually(() => expect(seen.selections).toHaveLength(1));
  const outcome = mechanism.vend("A1", 150);
  await eventually(() => expect(vmc.approvals).toHaveLength(1));
  return { outcome };
}

/** After a recovery, a new session's vend goes through: selection 12 at 2.00 is delivered by VEND SUCCESS. */
export async function expectNextVendDelivered(vmc: VmcSimulator, mechanism: VendMechanism): Promise<void> {
  await mechanism.openSession(1_000);
  const outcomes: VendOutcome[] = [];
  mechanism.on("selection", (request) => {
    void mechanism.vend(request.selection, request.priceMinor ?? 0).then((result) => outcomes.push(result));
  });
  vmc.customerSelects(12, "2.00");
  await eventually(() => expect(outcomes).toEqual([{ outcome: "delivered", evidence: "vend-success" }]));
}

/** A session where selection 11 is denied (the VMC hears C,VEND,-1) and the customer then asks for 12 at 2.00. */
export async function denyOneThenSelectAnother(
  vmc: VmcSimulator,
  mechanism: VendMechanism,
  seen: ReturnType<typeof record>,
): Promise<void> {
  await mechanism.openSession(1_000);
  let denials = 0;
  vmc.on("denied", () => denials++);
  vmc.customerSelects(11, "1.50");
  await eventually(() => expect(seen.selections).toHaveLength(1));
  await mechanism.deny("A1", "over budget");
  await eventually(() => expect(denials).toBe(1));
  vmc.customerSelects(12, "2.00");
  await eventually(() => expect(seen.selections).toHaveLength(2));
}
