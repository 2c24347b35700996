import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { PassThrough } from "node:stream";
import { parseArgs } from "node:util";
import { hashPassword } from "../backend-bridge/broker/password-hash.ts";
import { startSeqrSandbox } from "../backend-bridge/sandbox/seqr-sandbox.ts";
import { insecureChoices } from "../backend-bridge/security/insecure-choices.ts";
import { openStore } from "../backend-bridge/store/open-store.ts";
import { bridgeConfigSchema } from "../config/schema/bridge.ts";
import { type ChosenPort, choosePort } from "../platform/free-port.ts";
import { createLogger } from "../platform/logger.ts";
import { startDemoServer } from "./demo-server.ts";
import {
  agentConfig,
  bridgeConfig,
  demoCreatePurchaseUrl,
  demoCustomer,
  demoMachines,
  demoResellerUser,
  demoTerminal,
} from "./demo-setup.ts";
import { FlowFeed } from "./flow-feed.ts";
import { type LogLine, ProcessTree } from "./process-tree.ts";
import { sandboxCallLookup } from "./seqr-call-words.ts";

/**
 * `npm start`: the whole system on one computer, no configuration and no hardware: the SEQR sandbox (in this process),
 * the bridge with its embedded broker, and two simulated machines with their agents (child processes running the real
 * `vend-bridge run` and `vend-agent run`), plus one page that shows it all. Ctrl-C stops everything.
 */
const { values } = parseArgs({
  options: {
    port: { type: "string", default: "8080" },
    host: { type: "string", default: "127.0.0.1" },
    "keep-data": { type: "boolean", default: false },
  },
});
const host = values.host;
const started = Date.now();

// The SEQR side of each call the bridge reports done (its invoice and amount), once the sandbox runs.
let seqr: Awaited<ReturnType<typeof startSeqrSandbox>> | undefined;
const flow = new FlowFeed({ seqrCall: sandboxCallLookup(() => seqr) });
const tree = new ProcessTree();
tree.on("log", (line) => flow.add(line));

const dataDir = mkdtempSync(join(tmpdir(), "seqr-vend-demo-"));
// The sandbox's UPS logs in to the bridge like SEQR's would: caller authentication stays on in the demo.
const demoCaller = { username: "seqr-ups", password: randomBytes(16).toString("hex") };
const machines = demoMachines();

// `--port 0` asks for any free port, for the page and every part: two demos started at the same moment (two test
// runs side by side) would otherwise both find 8443 free, and the second bridge could not bind it.
const anyPort = Number(values.port) === 0;
const preferred = (port: number) => (anyPort ? 0 : port);
const ports = {
  demo: await choosePort(Number(values.port), host),
  bridgeHttp: await choosePort(preferred(8443), host),
  bridgeAdmin: await choosePort(preferred(9464), host),
  broker: await choosePort(preferred(1883), host),
  sandbox: await choosePort(preferred(8090), host),
  kiosk: Object.fromEntries(
    await Promise.all(
      machines.map(async (machine, index) => [machine.id, await choosePort(preferred(8081 + index), host)] as const),
    ),
  ),
};
const portNotes = [
  ["demo page", ports.demo],
  ["bridge HTTP", ports.bridgeHttp],
  ["bridge /metrics", ports.bridgeAdmin],
  ["MQTT broker", ports.broker],
  ["SEQR sandbox", ports.sandbox],
  ...Object.entries(ports.kiosk).map(([id, port]) => [`${id} screen`, port] as const),
] as [string, ChosenPort][];

// The sandbox logs into the flow feed like the child processes do.
const sandboxLogStream = new PassThrough();
createInterface({ input: sandboxLogStream }).on("line", (line) => {
  try {
    const { level, msg, time, ...fields } = JSON.parse(line) as Record<string, unknown>;
    flow.add({
      process: "SEQR",
      level: String(level),
      msg: String(msg ?? ""),
      time: Date.parse(String(time)),
      fields,
    } as LogLine);
  } catch {
    // not JSON: nothing for the feed
  }
});
const sandbox = await startSeqrSandbox({
  host,
  port: ports.sandbox.port,
  terminals: [{ id: demoTerminal.id, password: demoTerminal.password, currency: "EUR", name: "seqr-vend demo" }],
  resellerUsers: [demoResellerUser],
  customers: [demoCustomer],
  ups: { createPurchaseUrl: demoCreatePurchaseUrl(host, ports.bridgeHttp.port, demoCaller) },
  logger: createLogger({ name: "seqr-sandbox", level: "info", destination: sandboxLogStream }),
});
seqr = sandbox;

const portNumbers = {
  bridgeHttp: ports.bridgeHttp.port,
  bridgeAdmin: ports.bridgeAdmin.port,
  broker: ports.broker.port,
  kiosk: Object.fromEntries(Object.entries(ports.kiosk).map(([id, chosen]) => [id, chosen.port])),
};
const writeConfig = (name: string, content: unknown) => {
  const file = join(dataDir, name);
  writeFileSync(file, JSON.stringify(content, null, 2), { mode: 0o600 });
  return file;
};

let stopping: Promise<never> | undefined;
/**
 * One stop, however many times it is asked for (Ctrl-C twice, a child exiting while we stop): every caller waits for
 * the same stop, so "Stopped." is printed and the data directory (generated keys and passwords) removed every time.
 */
function stopAll(code: number): Promise<never> {
  stopping ??= (async () => {
    console.log("\nStopping the demo...");
    try {
      await demo?.close();
      await tree.stop();
      await sandbox.close();
    } finally {
      if (!values["keep-data"]) rmSync(dataDir, { recursive: true, force: true });
    }
    console.log("Stopped.");
    process.exit(code);
  })();
  return stopping;
}
process.on("SIGINT", () => void stopAll(0));
process.on("SIGTERM", () => void stopAll(0));
tree.on("exit", ({ process: name, code, signal }) => {
  if (stopping !== undefined) return;
  console.error(`\n${name} exited unexpectedly (code ${code}, signal ${signal}); stopping the demo.`);
  void stopAll(1);
});
tree.on("log", (line) => {
  if (line.level === "error" || line.level === "fatal") console.error(`[${line.process}] ${line.msg}`);
});

let demo: Awaited<ReturnType<typeof startDemoServer>> | undefined;

const bridgeSettings = bridgeConfig(
  portNumbers,
  sandbox.soapUrl,
  dataDir,
  machines,
  randomBytes(16).toString("hex"),
  demoCaller,
);
// What the one-command demo gives up, said before it starts (the bridge also warns about each one in its log).
console.log(
  [
    "The demo runs everything on this computer without certificates, so it turns off:",
    ...insecureChoices(bridgeConfigSchema.parse(bridgeSettings)).map(
      (choice) => `  - ${choice.key}: no ${choice.turnsOff}`,
    ),
    "  Everything listens on loopback only. A real bridge refuses to start this way unless each is chosen explicitly",
    "  (docs/security.md).",
  ].join("\n"),
);
// The operator's web console (refunds, sales, reconciliation) needs an account: one for this run, in the bridge's store.
const demoOperator = { name: "demo", password: randomBytes(12).toString("base64url") };
{
  const { store } = await openStore(bridgeSettings.store.url);
  await store.putOperator(demoOperator.name, hashPassword(demoOperator.password), Date.now());
  await store.close();
}
const bridgeFile = writeConfig("bridge.json", bridgeSettings);
tree.start("bridge", "backend-bridge/main.ts", ["run", "--config", bridgeFile]);
await waitFor(`http://${host}:${ports.bridgeAdmin.port}/healthz`, "the bridge");

for (const machine of machines) {
  mkdirSync(join(dataDir, machine.id), { recursive: true });
  const file = writeConfig(`${machine.id}.json`, agentConfig(portNumbers, dataDir, machine));
  tree.start(machine.id, "agent/main.ts", ["run", "--config", file]);
}
const kioskUrls = Object.fromEntries(
  machines.map((machine) => [machine.id, `http://${host}:${portNumbers.kiosk[machine.id]}/`]),
);
await Promise.all(machines.map((machine) => waitFor(kioskUrls[machine.id]!, `the screen of ${machine.id}`)));

demo = await startDemoServer({
  host,
  port: ports.demo.port,
  machines: machines.map((machine) => ({ id: machine.id, name: machine.name, kioskUrl: kioskUrls[machine.id]! })),
  sandbox,
  flow,
});

const moved = portNotes.filter(([, chosen]) => chosen.changed);
console.log(
  [
    "",
    `seqr-vend demo is running (started in ${((Date.now() - started) / 1000).toFixed(1)} s).`,
    "",
    `  Open ${demo.url} in a browser.`,
    "",
    `  SEQR sandbox:  ${sandbox.url} (customer app ${sandbox.appUrl}, phone ${demoCustomer.msisdn}, PIN ${demoCustomer.pin})`,
    `  Bridge:        http://${host}:${ports.bridgeHttp.port}/seqr/createPurchase (basic auth: ${demoCaller.username})`,
    `  Console:       http://${host}:${ports.bridgeAdmin.port}/console/ (operator ${demoOperator.name}, password ${demoOperator.password})`,
    `  Metrics:       http://${host}:${ports.bridgeAdmin.port}/metrics and /healthz (loopback only)`,
    `  MQTT broker:   mqtt://${host}:${ports.broker.port} (embedded aedes)`,
    ...machines.map((machine) => `  ${machine.id.padEnd(13)}  screen ${kioskUrls[machine.id]}`),
    ...moved.map(
      ([what, chosen]) => `  note: port ${chosen.preferred} for the ${what} was taken; using ${chosen.port}`,
    ),
    `  Data: ${dataDir}${values["keep-data"] ? " (kept)" : " (removed on exit)"}`,
    "",
    "Press Ctrl-C to stop.",
  ].join("\n"),
);

async function waitFor(url: string, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (stopping !== undefined) await stopping;
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1_000) });
      await response.body?.cancel();
      if (response.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  console.error(`${what} did not come up within ${timeoutMs / 1000} s (${url})`);
  await stopAll(1);
}
