import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { vendsInFlight } from "../../../agent/journal/journal-state.ts";
import { type ChildAgent, CrashScenario, commandKey, waitFor } from "./crash-harness.ts";
import { BridgeSide, bridgeUser, EmbeddedBrokerFixture, uniqueRoot } from "./mqtt-harness.ts";

/**
 * One crash scenario per plan, on the production composition (agent/main.ts, crash hook from the test preload): drive
 * a multi-vend purchase (ping, two payment-pendings, unlock, two vends, the customer closing) until the agent kills
 * itself at the point, restart it (a restart may itself crash at a further point, e.g. at boot with a session left
 * open), let it recover and resend, run one more purchase on the recovered agent, stop it with SIGTERM, then check
 * the invariants against the physical ledger (crash-harness.ts).
 */

export type CrashPlan = {
  name: string;
  /** `<write point>[:n]` of the first run, or one per run: each restart crashes at the next, the last run recovers. */
  crashAt?: string | readonly string[];
  killMidVend?: boolean;
  /** The first crash must leave a session open in the journal (the point was reached mid-session). */
  midSession?: boolean;
};

export function defineCrashSuite(title: string, plans: readonly CrashPlan[]): void {
  describe(title, () => {
    const rootTopic = uniqueRoot();
    const broker = new EmbeddedBrokerFixture(rootTopic);
    const password = "machine-secret";
    let bridge: BridgeSide;
    const keys: Record<string, string> = {};
    const scenarios = plans.map(() => undefined as CrashScenario | undefined);

    beforeAll(async () => {
      await broker.start();
      bridge = new BridgeSide(broker.url, rootTopic, keys, bridgeUser);
      await bridge.start();
    });
    afterAll(async () => {
      for (const scenario of scenarios) await scenario?.cleanup();
      await bridge?.stop();
      await broker.stop();
    });

    plans.forEach((plan, index) => {
      it(`SIGKILL ${plan.name}: nothing vended twice, vended = physically dropped, in-flight = unknown`, async () => {
        const scenario = new CrashScenario(broker.url, rootTopic, bridge, password);
        scenarios[index] = scenario;
        keys[scenario.machineId] = commandKey; // the fleet link reads the key map at send time
        broker.addMachine(scenario.machineId, password);
        const crashes =
          plan.crashAt === undefined ? [] : typeof plan.crashAt === "string" ? [plan.crashAt] : plan.crashAt;
        const first = scenario.spawnMain({
          crashAt: crashes[0],
          vendDurationMs: plan.killMidVend ? 4_000 : 30,
        });
        if (await first.started) await drive(scenario, first, plan);
        await expectKilled(first, plan.name);
        const inFlightAtCrash = new Set<string>();
        const afterCrash = scenario.journalOnDisk();
        for (const vend of vendsInFlight(afterCrash)) inFlightAtCrash.add(vend.vendId);
        if (plan.midSession) expect(afterCrash.session?.sessionId, "a session was open at the crash").toBe("first");
        if (plan.killMidVend) expect(inFlightAtCrash.size, "a vend was in flight at the kill").toBe(1);
        // Restarts that crash again, on a journal left mid-session (at boot, at the boot compaction).
        for (const crashAt of crashes.slice(1)) {
          const restart = scenario.spawnMain({ crashAt });
          await expectKilled(restart, `${plan.name}, then at ${crashAt} on restart`);
          for (const vend of vendsInFlight(scenario.journalOnDisk())) inFlightAtCrash.add(vend.vendId);
        }

        const second = scenario.spawnMain();
        expect(await second.started, second.output.join("").slice(-3_000)).toBe(true);
        // Recovery: every vend started before the crash gets its outcome, every unlocked session ends.
        const recovered = await waitFor(
          () => {
            const outcomes = new Set(
              [...scenario.named("vended"), ...scenario.named("vend-failed"), ...scenario.named("vend-unknown")].map(
                (event) => event.payload.vendId,
              ),
            );
            const ended = new Set(scenario.named("session-ended").map((event) => event.payload.sessionId));
            return (
              scenario.named("vend-started").every((event) => outcomes.has(event.payload.vendId)) &&
              scenario.named("unlocked").every((event) => ended.has(event.payload.sessionId))
            );
          },
          second,
          20_000,
        );
        expect(recovered, second.output.join("").slice(-3_000)).toBe(true);
        // The recovered agent sells again.
        expect(await waitFor(() => bridge.fleet.isOnline(scenario.machineId), second, 20_000)).toBe(true);
        await bridge.fleet.send(scenario.machineId, "unlock", {
          sessionId: "after",
          budgetMinor: 500,
          currency: "EUR",
        });
        expect(
          await waitFor(() => scenario.named("unlocked").some((e) => e.payload.sessionId === "after"), second, 20_000),
        ).toBe(true);
        expect(await second.select("A2")).toBe(true);
        expect(
          await waitFor(() => scenario.named("vended").some((e) => e.payload.sessionId === "after"), second, 20_000),
        ).toBe(true);
        expect(await second.closeAtMachine()).toBe(true);
        expect(
          await waitFor(
            () => scenario.named("session-ended").some((e) => e.payload.sessionId === "after"),
            second,
            20_000,
          ),
        ).toBe(true);
        second.process.kill("SIGTERM");
        expect(await second.exited, second.output.join("").slice(-3_000)).toMatchObject({ code: 0 });
        scenario.checkInvariants(inFlightAtCrash);
        expect(scenario.physicalDrops().filter((drop) => drop.selection === "A2")).toHaveLength(1);
      }, 180_000); // two or three agent starts (each loads main.ts's whole module graph) on a shared 2-core machine
    });
  });
}

async function expectKilled(child: ChildAgent, what: string): Promise<void> {
  const exit = await Promise.race([child.exited, new Promise((resolve) => setTimeout(resolve, 20_000, "alive"))]);
  expect(exit, `the agent was to die ${what}; output:\n${child.output.join("").slice(-3_000)}`).toMatchObject({
    signal: "SIGKILL",
  });
}

async function drive(scenario: CrashScenario, child: ChildAgent, plan: CrashPlan): Promise<void> {
  const { bridge, machineId } = scenario;
  const send = (...args: Parameters<BridgeSide["fleet"]["send"]>) => bridge.fleet.send(...args).catch(() => "");
  const sessionId = "first";
  if (!(await waitFor(() => bridge.fleet.isOnline(machineId), child, 20_000))) return;
  const pingId = await send(machineId, "ping", {});
  if (!(await waitFor(() => scenario.named("pong").some((e) => e.payload.commandId === pingId), child, 20_000))) return;
  await send(machineId, "payment-pending", { sessionId: "abandoned", amountMinor: 1_000, currency: "EUR" });
  await send(machineId, "payment-pending", { sessionId, amountMinor: 1_000, currency: "EUR" });
  if (!(await waitFor(() => bridge.fleet.lastState(machineId)?.session?.sessionId === sessionId, child, 20_000)))
    return;
  await send(machineId, "unlock", { sessionId, budgetMinor: 1_000, currency: "EUR" });
  if (!(await waitFor(() => scenario.named("unlocked").length > 0, child, 20_000))) return;
  for (const selection of ["A1", "B1"]) {
    if (!(await child.select(selection))) return;
    if (plan.killMidVend) {
      // The power cut while the motor turns: the vend was approved (reported started); its result is never written.
      const startedVend = await waitFor(
        () => scenario.named("vend-started").some((event) => event.payload.selection === selection),
        child,
        20_000,
      );
      expect(startedVend, "a vend started before the kill").toBe(true);
      expect(scenario.named("vended"), "the kill comes before the vend's result").toEqual([]);
      child.process.kill("SIGKILL");
      return;
    }
    const done = () =>
      [...scenario.named("vended"), ...scenario.named("vend-failed"), ...scenario.named("vend-unknown")].some(
        (event) => event.payload.selection === selection,
      );
    if (!(await waitFor(done, child, 20_000))) return;
  }
  await child.closeAtMachine();
  await waitFor(() => scenario.named("session-ended").some((e) => e.payload.sessionId === sessionId), child, 20_000);
}
