import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { CrashScenario, commandKey, waitFor } from "../agent/helpers/crash-harness.ts";
import { BridgeSide, bridgeUser, EmbeddedBrokerFixture, uniqueRoot } from "../agent/helpers/mqtt-harness.ts";
import { type NotifyStandIn, openNotifyStandIn } from "./notify-stand-in.ts";

/**
 * The real agent (runAgent with the journal, the MQTT link to an embedded broker, the vend session) under a
 * notify-socket stand-in, as systemd runs it, with the agent tests' fake mechanism and their bridge-side harness.
 */

const childScript = fileURLToPath(new URL("./fixtures/agent-under-systemd.ts", import.meta.url));
const password = "machine-secret";

describe("vend-agent under systemd's notify protocol", () => {
  const rootTopic = uniqueRoot();
  const broker = new EmbeddedBrokerFixture(rootTopic);
  const keys: Record<string, string> = {};
  let bridge: BridgeSide;
  let scenario: CrashScenario | undefined;
  let standIn: NotifyStandIn | undefined;

  beforeAll(async () => {
    await broker.start();
    bridge = new BridgeSide(broker.url, rootTopic, keys, bridgeUser);
    await bridge.start();
  });
  afterEach(async () => {
    await scenario?.cleanup();
    standIn?.close();
    scenario = undefined;
    standIn = undefined;
  });
  afterAll(async () => {
    await bridge?.stop();
    await broker.stop();
  });

  const newScenario = () => {
    const created = new CrashScenario(broker.url, rootTopic, bridge, password);
    keys[created.machineId] = commandKey;
    broker.addMachine(created.machineId, password);
    return created;
  };

  it("sends READY after start-up and watchdog pings, and stops pinging when the hardware link hangs", async () => {
    scenario = newScenario();
    standIn = openNotifyStandIn();
    const child = scenario.spawnScript(childScript, { NOTIFY_SOCKET: standIn.path, WATCHDOG_USEC: "600000" });
    expect(await child.started, child.output.join("").slice(-2_000)).toBe(true);
    const ready = await standIn.waitFor("READY", "1", 10_000);
    expect(ready.fields.STATUS).toBe("vending");
    // Positive evidence in arrival order, not counts after sleeps: a loaded machine may delay these, never reorder them.
    await standIn.waitForCount("WATCHDOG", 3, ready.at);

    child.process.send({ hang: true });
    const unhealthy = await standIn.waitForLatest("STATUS", (status) =>
      status.includes("hardware link alive: link up but silent"),
    );
    // The link stays hung, so after "unhealthy" the watchdog never pings again (several ping intervals of its ticks).
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(standIn.latest("STATUS")).toBe(unhealthy);
    expect(standIn.after(unhealthy, "WATCHDOG")).toEqual([]);
    expect(child.output.join("")).toMatch(/"level":"error".*watchdog pings withheld/);
  });

  it("SIGTERM during a vend: the vend finishes, is reported, STOPPING is sent, exit 0 well within TimeoutStopSec", async () => {
    scenario = newScenario();
    standIn = openNotifyStandIn();
    const { machineId } = scenario;
    const active = scenario;
    const child = scenario.spawnScript(childScript, {
      NOTIFY_SOCKET: standIn.path,
      WATCHDOG_USEC: "2000000",
      VEND_AGENT_VEND_MS: "1500",
    });
    expect(await child.started, child.output.join("").slice(-2_000)).toBe(true);
    expect(await waitFor(() => bridge.fleet.isOnline(machineId), child)).toBe(true);
    await bridge.fleet.send(machineId, "unlock", { sessionId: "term", budgetMinor: 1_000, currency: "EUR" });
    expect(await waitFor(() => active.named("unlocked").length > 0, child)).toBe(true);
    child.select("A1");
    // The motor turns (the ledger line is fsync'd before it does): now systemctl stop arrives.
    expect(await waitFor(() => active.physicalVends().length === 1, child)).toBe(true);
    const termAt = Date.now();
    child.process.kill("SIGTERM");
    const stopping = await standIn.waitFor("STOPPING", "1", 5_000);
    expect(stopping.fields.STATUS).toBe("stopping (SIGTERM)");
    const exit = await child.exited;
    const stopMs = Date.now() - termAt;
    expect(exit, child.output.join("").slice(-3_000)).toMatchObject({ code: 0 });
    expect(stopMs).toBeLessThan(30_000); // TimeoutStopSec of systemd/vend-agent.service
    console.info(`SIGTERM mid-vend -> exit 0 after ${stopMs} ms`);

    // Nothing lost: the vend that was turning is reported delivered, exactly once, before the agent went away.
    const started = active.named("vend-started");
    expect(started).toHaveLength(1);
    const vended = active.named("vended");
    expect(vended.map((event) => event.payload.selection)).toEqual(["A1"]);
    expect(vended[0]?.payload.vendId).toBe(started[0]?.payload.vendId);

    // After a restart: no second vend, no duplicate event, the session ends once; the invariants of the crash tests.
    const second = active.spawnScript(childScript);
    expect(await second.started, second.output.join("").slice(-2_000)).toBe(true);
    await waitFor(() => bridge.fleet.isOnline(machineId), second);
    second.closeAtMachine();
    await waitFor(() => active.named("session-ended").length > 0, second, 5_000);
    second.process.kill("SIGTERM");
    expect(await second.exited).toMatchObject({ code: 0 });
    expect(active.physicalVends()).toHaveLength(1);
    active.checkInvariants();
  });
});
