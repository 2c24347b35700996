import type { Duplex } from "node:stream";
import { MdbCashlessMechanism, type MdbCashlessSettings } from "../../hardware/mdb/mdb-cashless-mechanism.ts";
import { nativeSerialBinding, serialPortConnector } from "../../hardware/serial/stream-connector.ts";
import { SocatPtyPair } from "../../hardware/simulators/socat-pty-pair.ts";
import { VmcSimulator, type VmcSimulatorOptions } from "../../hardware/simulators/vmc-simulator.ts";
import { silentLogger } from "../../platform/logger.ts";
import { mdbCatalog, mdbSettings, record } from "./rigs.ts";

/**
 * The real serialport binding on both ends of a socat pseudo-terminal pair: the driver on one, a simulator on the
 * other. Unplugging is killing socat (both ptys vanish); replugging starts it again under the same link names.
 */

export async function openDevice(path: string, baudRate: number): Promise<Duplex> {
  return serialPortConnector({ path, baudRate, binding: nativeSerialBinding })();
}

export function closeStream(stream: Duplex | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (!stream || stream.destroyed) return resolve();
    const port = stream as Duplex & { isOpen?: boolean; close?: (cb: () => void) => void };
    if (port.isOpen && port.close) port.close(() => resolve());
    else {
      stream.destroy();
      resolve();
    }
  });
}

/** The pty pairs and drivers a test file opens; `afterEach` calls cleanup(), `afterAll` closeAll(). */
export class PtyRigs {
  readonly #pairs: SocatPtyPair[] = [];
  readonly #cleanups: Array<() => Promise<void>> = [];

  async pair(): Promise<SocatPtyPair> {
    const created = await SocatPtyPair.open();
    this.#pairs.push(created);
    return created;
  }

  onCleanup(cleanup: () => Promise<void>): void {
    this.#cleanups.push(cleanup);
  }

  async cleanup(): Promise<void> {
    for (const cleanup of this.#cleanups.splice(0).reverse()) await cleanup();
  }

  async closeAll(): Promise<void> {
    for (const created of this.#pairs.splice(0)) await created.close();
  }

  /** The MDB driver on the host end, the VMC simulator on the device end; resolves once the driver is up. */
  async mdb(vmcOptions: VmcSimulatorOptions = {}, settings: Partial<MdbCashlessSettings> = {}) {
    const ptys = await this.pair();
    const vmc = new VmcSimulator({ vendDurationMs: 50, ...vmcOptions });
    let device = await openDevice(ptys.devicePath, 115200);
    vmc.attach(device);
    const mechanism = new MdbCashlessMechanism({
      path: ptys.hostPath,
      connect: serialPortConnector({ path: ptys.hostPath, baudRate: 115200, binding: nativeSerialBinding }),
      // Only the event under test may end a vend: a vend-result timeout racing a slow link-loss detection on a
      // loaded machine would be a different outcome ("unknown", evidence "none") than the one under test.
      settings: { ...mdbSettings, vendResultTimeoutMs: 120_000, ...settings },
      catalog: mdbCatalog,
      logger: silentLogger(),
      backoff: { initialMs: 50, maxMs: 200 },
    });
    const seen = record(mechanism);
    this.onCleanup(async () => {
      await mechanism.stop();
      vmc.detach();
      await closeStream(device);
    });
    await mechanism.start();
    return {
      ptys,
      vmc,
      mechanism,
      seen,
      /** Kill socat: the adapter is unplugged. */
      unplug: async () => {
        await ptys.unplug();
        await closeStream(device);
      },
      /** Start socat again: the adapter is back, powered up with its config forgotten. */
      replug: async () => {
        await ptys.replug();
        device = await openDevice(ptys.devicePath, 115200);
        vmc.attach(device);
      },
    };
  }
}
