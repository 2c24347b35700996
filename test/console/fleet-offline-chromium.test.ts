import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import YAML from "yaml";
import { type BridgeApp, createBridgeApp } from "../../backend-bridge/bridge-app.ts";
import { createFleet, type Fleet } from "../../backend-bridge/fleet/start-fleet.ts";
import { systemClock } from "../../platform/clock.ts";
import { freePort } from "../../platform/free-port.ts";
import { silentLogger } from "../../platform/logger.ts";
import { FakeSeqr } from "../bridge/helpers/fake-seqr.ts";
import { machineKey, testConfig } from "../bridge/helpers/harness.ts";
import { createTestStore, type TestStore } from "../bridge/helpers/test-stores.ts";
import { AgentProcess, pollUntil } from "../chaos/processes.ts";
import { launchChromium } from "../helpers/browser.ts";
import { hasTool } from "../helpers/system-tools.ts";
import { addOperator, operatorPassword } from "./console-client.ts";

/** Short on purpose: the page must show the alarm this long after the machine went away, plus a margin. */
const offlineAfterMs = 5_000;
/** Generous: a loaded 2-core machine runs a browser, a bridge and an agent here. */
const marginMs = 20_000;
const mqttPassword = "m1-mqtt-password-for-the-test";

/**
 * Done-when of issue 22: "the fleet page shows a machine going offline within the alarm time". A real bridge (embedded
 * broker, real fleet link, system clock) and the real vend-agent (simulated spiral board) as M1; the agent is killed
 * with SIGKILL, so only the broker's delivery of its will tells the bridge. The operator's page, reloaded as an
 * operator would, shows M1 offline at once and the alarm within the threshold plus a margin, never before it.
 */
describe.runIf(hasTool("chromium"))("fleet page in Chromium with a real agent", () => {
  let dir: string;
  let testStore: TestStore;
  let fleet: Fleet;
  let app: BridgeApp;
  let agent: AgentProcess | undefined;
  let browser: Browser;
  let base: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "fleet-offline-"));
    const config = testConfig({
      machines: { M1: { mqttPassword } },
      alarms: { offlineAfterMs, evaluateIntervalMs: 1_000 },
    });
    testStore = await createTestStore("sqlite");
    const logger = silentLogger();
    fleet = await createFleet(config, { logger, clock: systemClock });
    app = createBridgeApp({
      config,
      store: testStore.store,
      seqr: new FakeSeqr(),
      fleet: fleet.link,
      clock: systemClock,
      logger,
      defaultMetrics: false,
    });
    await app.start();
    await fleet.link.start();
    await addOperator(testStore.store);
    base = app.admin.url;

    const kioskPort = await freePort();
    const configFile = join(dir, "agent.yaml");
    writeFileSync(
      configFile,
      YAML.stringify({
        machine: { id: "M1", merchantId: "public_test_shop" },
        mqtt: {
          url: `mqtt://127.0.0.1:${fleet.broker?.tcpPort}`,
          password: mqttPassword,
          reconnectMinMs: 200,
          reconnectMaxMs: 2_000,
        },
        commandKey: machineKey,
        hardware: { driver: "simulator", simulate: "spiral-board", ledgerFile: join(dir, "ledger.jsonl") },
        catalog: config.machines.M1?.catalog,
        display: { renderer: "kiosk", kioskHost: "127.0.0.1", kioskPort },
        dataDir: join(dir, "data"),
        log: { level: "warn" },
      }),
    );
    agent = await AgentProcess.start(configFile, kioskPort, 240_000);
    browser = await launchChromium();
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await agent?.kill();
    await app?.stop();
    await fleet?.close();
    await testStore?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Reloads the page until `selector` is on it: what an operator watching the page sees, event by event. */
  async function reloadUntil(page: Page, selector: string, timeoutMs: number): Promise<void> {
    await pollUntil(
      selector,
      async () => {
        await page.reload();
        return (await page.locator(selector).count()) > 0;
      },
      timeoutMs,
      () => agent?.output() ?? "",
      200,
    );
  }

  it("shows the machine offline, then its alarm within the threshold plus a margin, after its agent is killed", async () => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${base}/console/login`);
    await page.fill('input[name="name"]', "ops");
    await page.fill('input[name="password"]', operatorPassword);
    await Promise.all([page.waitForURL(`${base}/console/fleet`), page.click('button[type="submit"]')]);
    await reloadUntil(page, 'tr[data-machine="M1"] td.online', 120_000);
    await reloadUntil(page, 'tr[data-machine="M1"] td.since:has-text("since 20")', 30_000);
    expect(await page.locator('tr[data-machine="M1"]').textContent()).toContain("agent ");
    expect(await page.locator('tr[data-alarm="machine-offline:M1"]').count()).toBe(0);

    const killedAt = Date.now();
    await agent?.kill();
    await reloadUntil(page, 'tr[data-machine="M1"] td.offline', offlineAfterMs);
    const offlineSeenAfter = Date.now() - killedAt;
    expect(await page.locator('tr[data-alarm="machine-offline:M1"]').count()).toBe(0);

    await reloadUntil(page, 'tr[data-alarm="machine-offline:M1"]', offlineAfterMs + marginMs);
    const alarmSeenAfter = Date.now() - killedAt;
    expect(alarmSeenAfter).toBeGreaterThanOrEqual(offlineAfterMs);
    expect(alarmSeenAfter).toBeLessThanOrEqual(offlineAfterMs + marginMs);
    expect(offlineSeenAfter).toBeLessThan(alarmSeenAfter);
    expect(await page.locator("a.alarm-banner").textContent()).toMatch(/active alarm/);
    await page.context().close();
  }, 180_000);
});
