/**
 * Time from starting the agent's screen to the QR visible on the kiosk page in Chromium (issue 7). Three ways:
 *  - in-process: start the kiosk renderer (HTTP server + first screen) in this process, then a running Chromium opens
 *    the page; stop at the QR's SVG in the DOM. The renderer's own cost.
 *  - kiosk-open: the realistic kiosk case: Chromium already shows the page (offline, retrying) when the agent starts
 *    on the same port; stop when the QR appears. Bounded by EventSource's retry (1 s, sent by the server).
 *  - spawn: a new Node process (tsx, as `vend-agent` runs from sources) loads the config and starts the screen output
 *    (createScreenOutput, what `vend-agent run` uses); Chromium is open as in kiosk-open. Once `vend-agent run` draws
 *    its screen, `--agent` spawns it instead (with the simulator), which adds journal, hardware and MQTT start-up.
 * Usage: npx tsx bench/agent-start-to-qr.ts [runs=7] [--agent]
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Browser, Page } from "playwright-core";
import { createScreenOutput } from "../agent/display/create-display.ts";
import { startKioskServer } from "../agent/display/kiosk-server.ts";
import { describeScreen } from "../agent/display/screens.ts";
import { agentConfigSchema } from "../config/schema/agent.ts";
import { systemClock } from "../platform/clock.ts";
import { freePort } from "../platform/free-port.ts";
import { silentLogger } from "../platform/logger.ts";
import { launchChromium } from "../test/helpers/browser.ts";

const root = resolve(import.meta.dirname, "..");
const configObject = {
  machine: { id: "BENCH1", merchantId: "acme" },
  commandKey: "ab".repeat(32),
  hardware: { driver: "simulator", simulate: "mdb", vendDurationMs: 100 },
  catalog: { currency: "EUR", products: { A1: { name: "Water", sku: "W", priceMinor: 150 } } },
  display: { renderer: "kiosk", kioskHost: "127.0.0.1", kioskPort: 0 },
  dataDir: mkdtempSync(join(tmpdir(), "bench-qr-data-")),
  mqtt: { url: process.env.TEST_MOSQUITTO_URL ?? "mqtt://127.0.0.1:1883" },
};

// Child mode: what an agent process does for its screen, then report readiness and wait to be killed.
if (process.argv[2] === "--child") {
  const config = agentConfigSchema.parse({
    ...configObject,
    display: { ...configObject.display, kioskPort: Number(process.argv[3]) },
  });
  const output = await createScreenOutput(config, { clock: systemClock, logger: silentLogger() });
  await output.show({ screen: "idle" });
  process.stdout.write(`ready ${output.url}\n`);
  process.on("SIGTERM", () => void output.close().then(() => process.exit(0)));
} else {
  await main();
}

function stats(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return { n: sorted.length, min: sorted[0] ?? Number.NaN, p50: at(0.5), max: sorted[sorted.length - 1] ?? Number.NaN };
}

async function waitForQr(page: Page, timeoutMs = 30_000): Promise<void> {
  await page.waitForSelector("main[data-screen='idle'] #qr svg", { timeout: timeoutMs });
}

async function inProcess(browser: Browser): Promise<number> {
  const page = await browser.newPage();
  const started = performance.now();
  const kiosk = await startKioskServer({ host: "127.0.0.1", port: 0, clock: systemClock, logger: silentLogger() });
  const context = {
    machine: configObject.machine,
    catalog: agentConfigSchema.parse(configObject).catalog,
    idleText: "Scan with the SEQR app to pay",
    now: Date.now(),
  };
  await kiosk.display.show(describeScreen({ screen: "idle" }, context));
  await page.goto(kiosk.url);
  await waitForQr(page);
  const elapsed = performance.now() - started;
  await page.close();
  await kiosk.close();
  return elapsed;
}

/**
 * A kiosk page that is already open and whose agent has gone: loaded from a first kiosk server on `port`, which then
 * stops; the page's EventSource keeps retrying (1 s) until an agent answers on the same port again.
 */
async function openOrphanedPage(browser: Browser, port: number): Promise<Page> {
  const first = await startKioskServer({ host: "127.0.0.1", port, clock: systemClock, logger: silentLogger() });
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${port}/`);
  await first.close();
  await new Promise((r) => setTimeout(r, 300));
  return page;
}

async function kioskOpen(browser: Browser): Promise<number> {
  const port = await freePort();
  const page = await openOrphanedPage(browser, port);
  const started = performance.now();
  const kiosk = await startKioskServer({ host: "127.0.0.1", port, clock: systemClock, logger: silentLogger() });
  await kiosk.display.show(
    describeScreen(
      { screen: "idle" },
      {
        machine: configObject.machine,
        catalog: agentConfigSchema.parse(configObject).catalog,
        idleText: "Scan",
        now: Date.now(),
      },
    ),
  );
  await waitForQr(page);
  const elapsed = performance.now() - started;
  await page.close();
  await kiosk.close();
  return elapsed;
}

async function spawned(browser: Browser, agent: boolean): Promise<number | string> {
  const port = await freePort();
  const page = await openOrphanedPage(browser, port);
  let child: ChildProcess;
  const started = performance.now();
  if (agent) {
    const dir = mkdtempSync(join(tmpdir(), "bench-qr-agent-"));
    const file = join(dir, "agent.json");
    writeFileSync(file, JSON.stringify({ ...configObject, display: { ...configObject.display, kioskPort: port } }));
    child = spawn(process.execPath, ["--import", "tsx", join(root, "agent/main.ts"), "run", "--config", file], {
      cwd: root,
      stdio: ["ignore", "ignore", "pipe"],
    });
  } else {
    child = spawn(
      process.execPath,
      ["--import", "tsx", join(root, "bench/agent-start-to-qr.ts"), "--child", String(port)],
      {
        cwd: root,
        stdio: ["ignore", "ignore", "pipe"],
      },
    );
  }
  const exited = new Promise<string>((resolveExit) =>
    child.once("exit", (code) => resolveExit(`exited with ${code} before showing the QR`)),
  );
  try {
    return await Promise.race([waitForQr(page, 30_000).then(() => performance.now() - started), exited]);
  } catch (error) {
    return `no QR within 30 s (${(error as Error).name}): does it draw its screen on the kiosk yet?`;
  } finally {
    child.kill("SIGTERM");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 2_000))]);
    await page.close();
  }
}

async function main(): Promise<void> {
  const runs = Number(process.argv.find((arg) => /^\d+$/.test(arg)) ?? 7);
  const withAgent = process.argv.includes("--agent");
  const browser = await launchChromium();
  const table: Array<{ mode: string } & ReturnType<typeof stats>> = [];
  try {
    await inProcess(browser); // warm-up: first page of a fresh Chromium
    for (const [mode, run] of [
      ["in-process (renderer start -> QR)", () => inProcess(browser)],
      ["kiosk-open (agent restart -> QR)", () => kioskOpen(browser)],
      ["spawn (new node process -> QR)", () => spawned(browser, false)],
      ...(withAgent ? [["vend-agent run (spawn -> QR)", () => spawned(browser, true)] as const] : []),
    ] as const) {
      const samples: number[] = [];
      for (let index = 0; index < runs; index++) {
        const result = await run();
        if (typeof result === "string") {
          console.log(`${mode}: ${result}`);
          break;
        }
        samples.push(result);
      }
      if (samples.length > 0) table.push({ mode, ...stats(samples) });
    }
  } finally {
    await browser.close();
  }
  console.log(`\nagent start -> QR visible on the kiosk page (Chromium ${browser.version()}), ms, ${runs} runs each`);
  console.log(`${"mode".padEnd(38)} ${"n".padStart(3)} ${"min".padStart(8)} ${"p50".padStart(8)} ${"max".padStart(8)}`);
  for (const row of table) {
    console.log(
      `${row.mode.padEnd(38)} ${String(row.n).padStart(3)} ${row.min.toFixed(0).padStart(8)} ${row.p50.toFixed(0).padStart(8)} ${row.max.toFixed(0).padStart(8)}`,
    );
  }
}
