/**
 * The agent's idle cost on a machine: `vend-agent run` (simulator MDB driver, connected to a broker, nothing to do)
 * sampled from /proc over 30 s for RSS and CPU-seconds, next to a bare `node -e "setInterval(()=>{},1000)"` and the
 * same bare process under the tsx loader (the agent runs from source with tsx here; on a machine it runs compiled JS,
 * so the tsx share is not paid there; the bench also compiles the program with tsc into a temp dir and measures that).
 *   npx tsx bench/agent-idle.ts [seconds=30]
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startEmbeddedBroker } from "../backend-bridge/broker/embedded-broker.ts";
import { hashPassword } from "../backend-bridge/broker/password-hash.ts";
import { silentLogger } from "../platform/logger.ts";

const seconds = Number(process.argv[2] ?? 30);
const ticksPerSecond = 100; // USER_HZ on Linux

function sample(pid: number): { cpuSeconds: number; rssMb: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / ticksPerSecond; // utime + stime
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
  return { cpuSeconds, rssMb: rssKb / 1024 };
}

async function profile(label: string, child: ChildProcess, ready: Promise<void>) {
  await ready;
  await new Promise((resolve) => setTimeout(resolve, 3_000)); // settle after start-up
  const pid = child.pid ?? 0;
  const first = sample(pid);
  let peak = first.rssMb;
  for (let elapsed = 0; elapsed < seconds; elapsed += 1) {
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    peak = Math.max(peak, sample(pid).rssMb);
  }
  const last = sample(pid);
  child.kill("SIGTERM");
  await new Promise((resolve) => child.once("exit", resolve));
  return { label, rssMb: last.rssMb, peakMb: peak, cpuSeconds: last.cpuSeconds - first.cpuSeconds };
}

function start(args: string[], readyText?: string): { child: ChildProcess; ready: Promise<void> } {
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
  const ready = new Promise<void>((resolve, reject) => {
    if (!readyText) resolve();
    child.once("exit", (code) => reject(new Error(`${args.join(" ")} exited with ${code}`)));
    let buffer = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      buffer += chunk.toString();
      if (readyText && buffer.includes(readyText)) resolve();
    });
  });
  return { child, ready };
}

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

const results = [];
const bare = start(["-e", "setInterval(()=>{},1000)"]);
results.push(await profile('bare node -e "setInterval(()=>{},1000)"', bare.child, bare.ready));
const bareTsx = start(["--import", "tsx", "-e", "setInterval(()=>{},1000)"]);
results.push(await profile("bare node --import tsx (loader only)", bareTsx.child, bareTsx.ready));
const agent = start(["--import", "tsx", "agent/main.ts", "run", "--config", configFile], '"vend mechanism up"');
results.push(await profile("vend-agent run via tsx (simulator mdb, connected, idle)", agent.child, agent.ready));
// As on a machine: compiled JavaScript, no loader.
// Inside the repository so that the compiled files resolve node_modules; removed afterwards.
const outDir = join(process.cwd(), "node_modules", ".cache", `bench-agent-idle-${process.pid}`);
const build = spawnSync(
  process.execPath,
  ["node_modules/typescript/bin/tsc", "-p", "tsconfig.build.json", "--outDir", outDir],
  {
    encoding: "utf8",
  },
);
if (build.status === 0 || build.stdout.length > 0) {
  const compiled = start([join(outDir, "agent/main.js"), "run", "--config", configFile], '"vend mechanism up"');
  results.push(await profile("vend-agent run compiled (node dist/agent/main.js)", compiled.child, compiled.ready));
}
rmSync(outDir, { recursive: true, force: true });
await broker.close();
rmSync(dir, { recursive: true, force: true });

console.log(`\nidle over ${seconds} s (after 3 s settling)`);
console.log("| process | RSS MB | peak RSS MB | CPU s | CPU % |");
console.log("|---|---|---|---|---|");
for (const row of results) {
  console.log(
    `| ${row.label} | ${row.rssMb.toFixed(1)} | ${row.peakMb.toFixed(1)} | ${row.cpuSeconds.toFixed(2)} | ${((row.cpuSeconds / seconds) * 100).toFixed(2)} |`,
  );
}
process.exit(0);
