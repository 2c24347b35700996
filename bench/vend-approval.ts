/**
 * Vend request -> approval latency over a real pseudo-terminal pair (socat), with the real serialport binding on both
 * ends: the VMC simulator emits `c,STATUS,VEND,<price>,<item>` and we time until it reads `C,VEND,<amount>` back,
 * with an agent-like handler that approves immediately. The MDB reader must answer well inside the VMC's response
 * time (hardware-reference §1.1: 5 s non-response default; our own approvalTimeoutMs is 3 s).
 *
 *   npx tsx bench/vend-approval.ts [vends=500] [repetitions=3]
 *
 * Both ends run in this one Node process (one event loop), as the agent and a USB adapter would not: the figure
 * includes the simulator's own work, so it is an upper bound of the driver's share. The floor, run in the same
 * invocation and interleaved with it (driver, floor, driver, floor, ...): the same pty pair and serialport binding on
 * both ends, a vend request line written on the device's end and a bare responder on the host's end answering each
 * with `C,VEND,150` (no driver, no simulator). Medians of the repetitions with their spread, and the ratio.
 */
import { readFileSync } from "node:fs";
import type { Duplex } from "node:stream";
import * as hdr from "hdr-histogram-js";
import { MdbCashlessMechanism } from "../hardware/mdb/mdb-cashless-mechanism.ts";
import { nativeSerialBinding, serialPortConnector } from "../hardware/serial/stream-connector.ts";
import { SocatPtyPair } from "../hardware/simulators/socat-pty-pair.ts";
import { VmcSimulator } from "../hardware/simulators/vmc-simulator.ts";
import { silentLogger } from "../platform/logger.ts";
import type { Catalog } from "../protocol/catalog.ts";

const vends = Number(process.argv[2] ?? 500);
const repetitions = Number(process.argv[3] ?? 3);
const warmup = 20;
const catalog: Catalog = {
  currency: "EUR",
  products: { A1: { name: "Water", sku: "WATER", priceMinor: 150, mdbItem: 11 } },
};

function newHistogram() {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 10_000_000, numberOfSignificantValueDigits: 3 });
}

type Histogram = ReturnType<typeof newHistogram>;

/** The floor: one request line down the pty pair and its answer back, through serialport on both ends. */
async function floor(): Promise<Histogram> {
  const ptys = await SocatPtyPair.open();
  const connect = (path: string) => serialPortConnector({ path, baudRate: 115200, binding: nativeSerialBinding })();
  const [device, host] = await Promise.all([connect(ptys.devicePath), connect(ptys.hostPath)]);
  let hostBuffer = "";
  host.on("data", (chunk: Buffer) => {
    hostBuffer += chunk.toString("latin1");
    for (let end = hostBuffer.indexOf("\n"); end >= 0; end = hostBuffer.indexOf("\n")) {
      const line = hostBuffer.slice(0, end);
      hostBuffer = hostBuffer.slice(end + 1);
      if (line.startsWith("c,STATUS,VEND,")) host.write("C,VEND,150\n");
    }
  });
  let deviceBuffer = "";
  let answered: (() => void) | undefined;
  device.on("data", (chunk: Buffer) => {
    deviceBuffer += chunk.toString("latin1");
    if (deviceBuffer.includes("C,VEND,150\n")) {
      deviceBuffer = "";
      answered?.();
    }
  });
  const histogram = newHistogram();
  for (let index = 0; index < warmup + vends; index++) {
    const reply = new Promise<void>((resolve) => {
      answered = resolve;
    });
    const started = performance.now();
    device.write("c,STATUS,VEND,1.50,11\n");
    await reply;
    if (index >= warmup) histogram.recordValue(Math.round((performance.now() - started) * 1_000));
  }
  device.destroy();
  host.destroy();
  await ptys.close();
  return histogram;
}

/** The driver: the MDB cashless driver and the VMC simulator over the pty pair, as described above. */
async function driver(): Promise<Histogram> {
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

  const histogram = newHistogram();
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

  return histogram;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;

async function main(): Promise<void> {
  const load = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  const loadBefore = load();
  const runs: { driver: Histogram; floor: Histogram }[] = [];
  for (let repetition = 0; repetition < repetitions; repetition++) {
    runs.push({ driver: await driver(), floor: await floor() });
  }
  const ms = (micros: number) => (micros / 1_000).toFixed(3);
  const row = (label: string, pick: (run: (typeof runs)[number]) => Histogram) => {
    const cells = [50, 99].map((percentile) => {
      const values = runs.map((run) => pick(run).getValueAtPercentile(percentile));
      return `${ms(median(values))} (${ms(Math.min(...values))}-${ms(Math.max(...values))})`;
    });
    return `| ${label} | ${cells.join(" | ")} |`;
  };
  const ratio = (percentile: number) =>
    median(runs.map((run) => run.driver.getValueAtPercentile(percentile) / run.floor.getValueAtPercentile(percentile)));
  console.log(
    `vend request -> approval over a socat pty pair (real serialport binding), ${vends} vends x ${repetitions} repetitions, interleaved with the floor`,
  );
  console.log("| | p50 ms median (min-max) | p99 ms median (min-max) |");
  console.log("|---|---:|---:|");
  console.log(row("MDB driver + VMC simulator", (run) => run.driver));
  console.log(row("floor: bare line and answer over the same pty", (run) => run.floor));
  console.log(
    `ratio driver / floor (median of the repetitions): p50 ${ratio(50).toFixed(2)}x, p99 ${ratio(99).toFixed(2)}x`,
  );
  console.log(`load average before: ${loadBefore}; after: ${load()}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
