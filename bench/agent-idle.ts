/**
 * The agent's idle cost on a machine, as it runs there: `node dist/agent/main.js run` (the compiled program that
 * `npm run build` writes; simulator MDB driver, no screen, connected to a broker, nothing to do), interleaved with
 * its floor, a bare `node -e "setInterval(()=>{},1000)"`, in the same invocation: bare, agent, bare, agent, ...
 * Each process is sampled from /proc for RSS and CPU-seconds over the idle window after a settling pause; the
 * medians over the repetitions are printed with their spread (min-max), the ratio agent RSS / bare node RSS, and the
 * load average before and after. The build runs first and a failed build stops the bench with its errors (a bench
 * of stale or half-built JavaScript measures nothing).
 *   npx tsx bench/agent-idle.ts [seconds=30] [--repetitions 3] [--node-flags="--max-semi-space-size=1"]
 * --node-flags are given to both processes (as the systemd unit would give them to node).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startEmbeddedBroker } from "../backend-bridge/broker/embedded-broker.ts";
import { hashPassword } from "../backend-bridge/broker/password-hash.ts";
import { silentLogger } from "../platform/logger.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { repetitions: { type: "string", default: "3" }, "node-flags": { type: "string", default: "" } },
});
const seconds = Number(positionals[0] ?? 30);
const repetitions = Number(values.repetitions);
const nodeFlags = values["node-flags"].split(" ").filter((flag) => flag !== "");
const settleMs = 3_000;
const ticksPerSecond = 100; // USER_HZ on Linux
const repositoryRoot = join(import.meta.dirname, "..");
const compiledAgent = join(repositoryRoot, "dist", "agent", "main.js");

interface Sample {
  cpuSeconds: number;
  rssMb: number;
}
interface Measurement {
  rssMb: number;
  peakMb: number;
  cpuSeconds: number;
}

function sample(pid: number): Sample {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / ticksPerSecond; // utime + stime
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
  return { cpuSeconds, rssMb: rssKb / 1024 };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `npm run build` in this checkout; its errors end the bench. */
function build(): void {
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const result = spawnSync(npm, ["run", "build"], { cwd: repositoryRoot, encoding: "utf8" });
  if (result.status !== 0) {
    process.stderr.write(result.stdout + result.stderr);
    throw new Error(`npm run build failed (exit ${result.status ?? result.signal}): not measuring a stale dist/`);
  }
  if (!existsSync(compiledAgent)) throw new Error(`npm run build did not write ${compiledAgent}`);
}

/** Starts a node process; resolves once its stdout shows readyText (at once without one), rejects if it exits first. */
function start(args: string[], readyText?: string): { child: ChildProcess; ready: Promise<void> } {
  const child = spawn(process.execPath, [...nodeFlags, ...args], {
    cwd: repositoryRoot,
    stdio: ["ignore", "pipe", "inherit"],
  });
  const output: string[] = [];
  const ready = new Promise<void>((resolve, reject) => {
    if (!readyText) resolve();
    child.once("exit", (code) =>
      reject(new Error(`${args.join(" ")} exited with ${code} before it was ready:\n${output.join("")}`)),
    );
    child.stdout?.on("data", (chunk: Buffer) => {
      output.push(chunk.toString());
      if (readyText && output.join("").includes(readyText)) resolve();
    });
  });
  return { child, ready };
}

async function measure(started: { child: ChildProcess; ready: Promise<void> }): Promise<Measurement> {
  const { child, ready } = started;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  try {
    await ready;
    await sleep(settleMs);
    const pid = child.pid ?? 0;
    const first = sample(pid);
    let peak = first.rssMb;
    for (let elapsed = 0; elapsed < seconds; elapsed += 1) {
      await sleep(1_000);
      peak = Math.max(peak, sample(pid).rssMb);
    }
    const last = sample(pid);
    return { rssMb: last.rssMb, peakMb: Math.max(peak, last.rssMb), cpuSeconds: last.cpuSeconds - first.cpuSeconds };
  } finally {
    child.kill("SIGTERM");
    await exited;
  }
}

function median(numbers: number[]): number {
  const sorted = [...numbers].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

function summary(numbers: number[], digits: number): string {
  return `${median(numbers).toFixed(digits)} (${Math.min(...numbers).toFixed(digits)}-${Math.max(...numbers).toFixed(digits)})`;
}

const formatLoad = () =>
  loadavg()
    .map((load) => load.toFixed(2))
    .join(" ");

build();
const root = `idle-${randomUUID().slice(0, 6)}/v1`;
const password = "idle-machine";
const hash = hashPassword(password, { log2N: 10, r: 8, p: 1 });
const broker = await startEmbeddedBroker({
  rootTopic: root,
  credentials: { lookup: () => ({ passwordHash: hash }) },
  bridgeUser: { username: "idle-bridge" },
  tcp: { host: "127.0.0.1", port: 0 },
  drainTimeoutMs: 10_000,
  maxTopicLevels: 16,
  logger: silentLogger(),
});
const dir = mkdtempSync(join(tmpdir(), "bench-idle-"));
const configFile = join(dir, "agent.yaml");
writeFileSync(
  configFile,
  JSON.stringify({
    machine: { id: "IDLE1", merchantId: "bench" },
    mqtt: { url: `mqtt://127.0.0.1:${broker.tcpPort}`, rootTopic: root, password },
    commandKey: "77".repeat(32),
    catalog: { currency: "EUR", products: { A1: { name: "Water", sku: "W", priceMinor: 150, mdbItem: 11 } } },
    hardware: { driver: "simulator", simulate: "mdb" },
    display: { renderer: "none" },
    dataDir: join(dir, "data"),
    log: { level: "info" },
  }),
);

const loadBefore = formatLoad();
const bare: Measurement[] = [];
const agent: Measurement[] = [];
try {
  for (let repetition = 1; repetition <= repetitions; repetition += 1) {
    bare.push(await measure(start(["-e", "setInterval(()=>{},1000)"])));
    agent.push(await measure(start([compiledAgent, "run", "--config", configFile], '"vend mechanism up"')));
    const b = bare.at(-1) as Measurement;
    const a = agent.at(-1) as Measurement;
    console.log(
      `repetition ${repetition}: bare node ${b.rssMb.toFixed(1)} MB, agent ${a.rssMb.toFixed(1)} MB, ratio ${(a.rssMb / b.rssMb).toFixed(2)}x`,
    );
  }
} finally {
  await broker.close();
  rmSync(dir, { recursive: true, force: true });
}

const flagsNote = nodeFlags.length > 0 ? `, node ${nodeFlags.join(" ")}` : "";
console.log(
  `\nidle over ${seconds} s after ${settleMs / 1000} s settling, ${repetitions} repetitions interleaved${flagsNote}; median (min-max)`,
);
console.log("| process | RSS MB | peak RSS MB | CPU s | CPU % |");
console.log("|---|---|---|---|---|");
for (const [label, rows] of [
  ['bare node -e "setInterval(()=>{},1000)"', bare],
  ["vend-agent run, compiled (node dist/agent/main.js; simulator mdb, no screen, connected, idle)", agent],
] as const) {
  console.log(
    `| ${label} | ${summary(
      rows.map((row) => row.rssMb),
      1,
    )} | ${summary(
      rows.map((row) => row.peakMb),
      1,
    )} | ${summary(
      rows.map((row) => row.cpuSeconds),
      2,
    )} | ${summary(
      rows.map((row) => (row.cpuSeconds / seconds) * 100),
      2,
    )} |`,
  );
}
const ratios = agent.map((row, index) => row.rssMb / (bare[index] as Measurement).rssMb);
const ratioOfMedians = median(agent.map((row) => row.rssMb)) / median(bare.map((row) => row.rssMb));
console.log(
  `\nratio agent RSS / bare node RSS: ${ratioOfMedians.toFixed(2)}x (medians); per repetition ${summary(ratios, 2)}x`,
);
console.log(`load average (1, 5, 15 min): before ${loadBefore}, after ${formatLoad()}`);
process.exit(0);
