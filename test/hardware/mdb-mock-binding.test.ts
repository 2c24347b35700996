import { SerialPortMock } from "serialport";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MdbCashlessMechanism, type MdbCashlessSettings } from "../../hardware/mdb/mdb-cashless-mechanism.ts";
import type { SerialBinding } from "../../hardware/serial/serial-types.ts";
import { serialPortConnector } from "../../hardware/serial/stream-connector.ts";
import { duplexPair } from "../../hardware/simulators/duplex-pair.ts";
import { VmcSimulator, type VmcSimulatorOptions } from "../../hardware/simulators/vmc-simulator.ts";
import { silentLogger } from "../../platform/logger.ts";
import type { Catalog } from "../../protocol/catalog.ts";
import { eventually } from "../helpers/eventually.ts";
import {
  denyOneThenSelectAnother,
  expectNextVendDelivered,
  mdbCatalog,
  mdbSettings,
  record,
  vendLeftInFlight,
} from "./rigs.ts";

/**
 * The real adapter sequences of issue 19 through @serialport/binding-mock (the serialport stream and binding API the
 * driver uses in production, without a device): first a literal replay of a real adapter's console log, then the
 * faithful VMC simulator wired to the mock port.
 */

// @serialport/binding-mock, reached through serialport's re-export: the package's own types are `require`-only.
const MockBinding = SerialPortMock.binding;
type MockPort = Awaited<ReturnType<typeof MockBinding.open>>;
const path = "/dev/serial/by-id/usb-Qibixx_MDB-HAT_0001-if00";

/** A binding whose every open hands the mock port to `onOpen` (to play the adapter on it). */
function bindingPlaying(onOpen: (port: MockPort) => void): SerialBinding {
  return {
    ...(MockBinding as unknown as SerialBinding),
    open: async (options: Parameters<SerialBinding["open"]>[0]) => {
      const port = await MockBinding.open(options);
      onOpen(port);
      return port;
    },
  } as SerialBinding;
}

function driverOn(binding: SerialBinding, settings: Partial<MdbCashlessSettings> = {}, catalog: Catalog = mdbCatalog) {
  const mechanism = new MdbCashlessMechanism({
    path,
    connect: serialPortConnector({ path, baudRate: 115200, binding }),
    settings: { ...mdbSettings, vendResultTimeoutMs: 120_000, ...settings },
    catalog,
    logger: silentLogger(),
    backoff: { initialMs: 50, maxMs: 200 },
  });
  return { mechanism, seen: record(mechanism) };
}

/** The VMC simulator behind the mock port: host writes reach it, its lines are emitted as the port's data. */
function simulatorRig(vmcOptions: VmcSimulatorOptions = {}, settings: Partial<MdbCashlessSettings> = {}) {
  const vmc = new VmcSimulator({ vendDurationMs: 20, ...vmcOptions });
  const binding = bindingPlaying((port) => {
    const [toVmc, device] = duplexPair();
    vmc.attach(device);
    toVmc.on("data", (chunk: Buffer) => {
      if (port.isOpen) port.emitData(chunk);
    });
    const write = port.write.bind(port);
    port.write = async (buffer: Buffer) => {
      await write(buffer);
      toVmc.write(buffer);
    };
  });
  return { vmc, ...driverOn(binding, settings) };
}

describe("MDB driver over @serialport/binding-mock: real adapter sequences (issue 19)", () => {
  const stops: Array<() => Promise<void>> = [];
  beforeEach(() => {
    MockBinding.reset();
    MockBinding.createPort(path, { record: true });
  });
  afterEach(async () => {
    for (const stop of stops.splice(0)) await stop();
  });

  it("replays the console log of a real adapter (karliatto/ln-vending assets/logs.txt): set up, vend, delivered", async () => {
    // The adapter's lines, as logged on a vending machine, keyed by the command that caused them.
    const answers: Array<[RegExp, string[]]> = [
      [/^C,0$/, ["c,0"]],
      [/^C,SETCONF,/, ["c,SET,OK"]],
      [/^C,1$/, ["c,STATUS,INACTIVE", "c,1", "r,ACK", "c,STATUS,DISABLED", "r,ACK", "r,ACK", "c,STATUS,ENABLED"]],
      [/^C,START,(.+)$/, ["c,STATUS,IDLE,$1"]],
      [/^C,VEND,15\.19$/, ["r,ACK", "c,VEND,SUCCESS", "c,STATUS,IDLE", "c,STATUS,ENABLED", "r,ACK"]],
    ];
    let port: MockPort | undefined;
    const binding = bindingPlaying((opened) => {
      port = opened;
      const write = opened.write.bind(opened);
      opened.write = async (buffer: Buffer) => {
        await write(buffer);
        const line = buffer.toString().trim();
        for (const [pattern, lines] of answers) {
          const match = pattern.exec(line);
          if (!match) continue;
          const text = lines.map((answer) => answer.replace("$1", match[1] ?? "")).join("\n");
          setImmediate(() => opened.isOpen && opened.emitData(`${text}\n`));
        }
      };
    });
    const catalog: Catalog = {
      currency: "EUR",
      products: { B7: { name: "Snack", sku: "SNACK", priceMinor: 1519, mdbItem: 17 } },
    };
    const { mechanism, seen } = driverOn(binding, {}, catalog);
    stops.push(() => mechanism.stop());
    await mechanism.start();
    await mechanism.openSession(2_000);
    port?.emitData("r,ACK\nr,ACK\nc,STATUS,VEND,15.19,17\nr,ACK\n");
    await eventually(() =>
      expect(seen.selections).toEqual([expect.objectContaining({ selection: "B7", priceMinor: 1519 })]),
    );
    await expect(mechanism.vend("B7", 1519)).resolves.toEqual({ outcome: "delivered", evidence: "vend-success" });
    expect(port?.recording.toString()).toContain("C,START,20.00\nC,VEND,15.19\n");
  });

  it("fresh power-up ('cashless is off') and the r,ACK stream: set up once, up, no loop", async () => {
    const { vmc, mechanism } = simulatorRig({ pollAckIntervalMs: 50 });
    stops.push(() => mechanism.stop());
    await mechanism.start();
    await eventually(() => expect(vmc.pollAcks).toBeGreaterThan(20));
    expect(vmc.errors[0]).toBe("cashless is off");
    expect(mechanism.isUp()).toBe(true);
    expect(vmc.received.filter((line) => line === "C,0")).toHaveLength(1);
  });

  it("older firmware: OFFLINE/ONLINE understood, mdb-addr used", async () => {
    const { vmc, mechanism } = simulatorRig({ firmware: "legacy", pollAckIntervalMs: 50 });
    stops.push(() => mechanism.stop());
    await mechanism.start();
    await eventually(() => expect(mechanism.isUp()).toBe(true));
    expect(vmc.config.get("mdb-addr")).toBe("0x10");
    expect(vmc.received.filter((line) => line === "C,0")).toHaveLength(1);
  });

  it("reboot with the port open mid-vend: unknown, set up again on the same port, the next vend delivered", async () => {
    const { vmc, mechanism, seen } = simulatorRig({ pollAckIntervalMs: 50 }, { pollSilenceMs: 500 });
    stops.push(() => mechanism.stop());
    await mechanism.start();
    await eventually(() => expect(vmc.pollAcks).toBeGreaterThan(5));
    const { outcome } = await vendLeftInFlight(vmc, mechanism, seen);
    vmc.reboot();
    await expect(outcome).resolves.toMatchObject({ outcome: "unknown", evidence: "restart" });
    await eventually(() => expect(mechanism.isUp()).toBe(true));
    expect(vmc.setupCount).toBe(2);
    await expectNextVendDelivered(vmc, mechanism);
  });

  it("deny with C,VEND,-1; VEND -3 and STOP -3 never leave a vend open or delivered", async () => {
    const { vmc, mechanism, seen } = simulatorRig({ pollAckIntervalMs: 50 });
    stops.push(() => mechanism.stop());
    await mechanism.start();
    await denyOneThenSelectAnother(vmc, mechanism, seen);
    vmc.vendRequestExpires();
    await expect(mechanism.vend("A2", 200)).resolves.toMatchObject({ outcome: "not-delivered" });
    // A STOP -3 out of nowhere (an answer to someone else's C,STOP) is only logged.
    vmc.inject('c,ERR,"STOP -3"\n');
    await mechanism.closeSession();
    expect(vmc.errors).toEqual(["cashless is off", "VEND -3"]);
    expect(vmc.approvals).toEqual([]);
    expect(mechanism.isUp()).toBe(true);
  });
});
