/**
 * Vend request -> approval latency over a real pseudo-terminal pair (socat), with the real serialport binding on both
 * ends: the VMC simulator emits `c,STATUS,VEND,<price>,<item>` and we time until it reads `C,VEND,<amount>` back,
 * with an agent-like handler that approves immediately. The MDB reader must answer well inside the VMC's response
 * time (hardware-reference §1.1: 5 s non-response default; our own approvalTimeoutMs is 3 s).
 *
 *   npx tsx bench/vend-approval.ts [vends=500]
 *
 * Both ends run in this one Node process (one event loop), as the agent and a USB adapter would not: the figure
 * includes the simulator's own work, so it is an upper bound of the driver's share.
 */
import type { Duplex } from "node:stream";
import * as hdr from "hdr-histogram-js";
import { MdbCashlessMechanism } from "../hardware/mdb/mdb-cashless-mechanism.ts";
import { nativeSerialBinding, serialPortConnector } from "../hardware/serial/stream-connector.ts";
import { SocatPtyPair } from "../hardware/simulators/socat-pty-pair.ts";
import { VmcSimulator } from "../hardware/simulators/vmc-simulator.ts";
import { silentLogger } from "../platform/logger.ts";
import type { Catalog } from "../protocol/catalog.ts";

const vends = Number(process.argv[2] ?? 500);
const warmup = 20;
const catalog: Catalog = {
  currency: "EUR",
  products: { A1: { name: "Water", sku: "WATER", priceMinor: 150, mdbItem: 11 } },
};

async function main(): Promise<void> {
  const ptys = await SocatPtyPair.open();
  const vmc = new VmcSimulator({ vendDurationMs: 0 });
  const device: Duplex = await serialPortConnector({
    path: ptys.devicePath,
    baudRate: 115200,
    binding: nativeSerialBinding,
  })();
  vmc.attach(device);
  const mechanism = new MdbCashlessMechanism({
    path: ptys.hostPath,
    connect: serialPortConnector({ path: ptys.hostPath, baudRate: 115200, binding: nativeSerialBinding }),
    settings: {
      address: 0x10,
      currencyCode: 0x1978,
      scaleFactor: 1,
      decimalPlaces: 2,
      vendResultTimeoutMs: 5_000,
      approvalTimeoutMs: 3_000,
    },
    catalog,
    logger: silentLogger(),
  });
  // The agent: budget check and approve at once, as agent/session does.
  let outcomeDone: (() => void) | undefined;
  mechanism.on("selection", (request) => {
    void mechanism.vend(request.selection, request.priceMinor ?? 0).then(() => outcomeDone?.());
  });
  await mechanism.start();

  const histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 10_000_000,
    numberOfSignificantValueDigits: 3,
  });
  let lastLatency = 0;
  vmc.on("approved", (_amount, latencyMs) => {
    lastLatency = latencyMs;
  });
  for (let index = 0; index < warmup + vends; index++) {
    await mechanism.openSession(500);
    const done = new Promise<void>((resolve) => {
      outcomeDone = resolve;
    });
    vmc.customerSelects(11, "1.50");
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`vend ${index}: no outcome`)), 6_000).unref(),
    );
    await Promise.race([done, timeout]);
    // single-vend VMC ends the session after success; wait until it has
    const deadline = Date.now() + 2_000;
    while (vmc.state !== "ENABLED") {
      if (Date.now() > deadline) throw new Error(`vend ${index}: the simulated VMC stayed ${vmc.state}`);
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (index >= warmup) histogram.recordValue(Math.round(lastLatency * 1_000));
  }
  await mechanism.stop();
  vmc.detach();
  device.destroy();
  await ptys.close();

  const ms = (micros: number) => (micros / 1_000).toFixed(3);
  console.log(`vend request -> approval over a socat pty pair (real serialport binding), ${vends} vends`);
  console.log("| p50 ms | p90 ms | p99 ms | max ms |");
  console.log("|-------:|-------:|-------:|-------:|");
  console.log(
    `| ${ms(histogram.getValueAtPercentile(50))} | ${ms(histogram.getValueAtPercentile(90))} | ${ms(histogram.getValueAtPercentile(99))} | ${ms(histogram.maxValue)} |`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
