import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ChildAgent, CrashScenario, commandKey, waitFor } from "./crash-harness.ts";
import { BridgeSide, bridgeUser, EmbeddedBrokerFixture, uniqueRoot } from "./mqtt-harness.ts";

/**
 * One crash scenario per write point: drive a multi-vend purchase (ping, two payment-pendings, unlock, two vends, the
 * customer closing) until the child kills itself at the point, restart it, let it recover and resend, run one more
 * purchase on the recovered agent, stop it with SIGTERM, then check the invariants (crash-harness.ts).
 */

export type CrashPlan = { name: string; crashAt?: string; killMidVend?: boolean };

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
      it(`SIGKILL ${plan.name}: nothing vended twice, every vend reaches the store exactly once`, async () => {
        const scenario = new CrashScenario(broker.url, rootTopic, bridge, password);
        scenarios[index] = scenario;
        keys[scenario.machineId] = commandKey; // the fleet link reads the key map at send time
        broker.addMachine(scenario.machineId, password);
        const env: Record<string, string> = plan.crashAt ? { VEND_AGENT_CRASH_AT: plan.crashAt } : {};
        if (plan.killMidVend) env.VEND_AGENT_VEND_MS = "4000";
        const first = scenario.spawn(env);
        const started = await first.started;
        if (started) {
          await drive(scenario, first, plan);
        }
        const exit = await Promise.race([first.exited, new Promise((resolve) => setTimeout(resolve, 5_000, "alive"))]);
        expect(
          exit,
          `the agent was to die at ${plan.name}; output:\n${first.output.join("").slice(-3_000)}`,
        ).toMatchObject({
          signal: "SIGKILL",
        });

        const second = scenario.spawn();
        expect(await second.started, second.output.join("").slice(-3_000)).toBe(true);
        // Recovery: every vend started before the crash gets its outcome, every unlocked session ends.
        const recovered = await waitFor(() => {
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
        }, second);
        expect(recovered, second.output.join("").slice(-3_000)).toBe(true);
        // The recovered agent sells again.
        await waitFor(() => bridge.fleet.isOnline(scenario.machineId), second);
        await bridge.fleet.send(scenario.machineId, "unlock", {
          sessionId: "after",
          budgetMinor: 500,
          currency: "EUR",
        });
        expect(
          await waitFor(() => scenario.named("unlocked").some((e) => e.payload.sessionId === "after"), second),
        ).toBe(true);
        second.select("A2");
        expect(await waitFor(() => scenario.named("vended").some((e) => e.payload.sessionId === "after"), second)).toBe(
          true,
        );
        second.closeAtMachine();
        expect(
          await waitFor(() => scenario.named("session-ended").some((e) => e.payload.sessionId === "after"), second),
        ).toBe(true);
        second.process.kill("SIGTERM");
        expect(await second.exited).toMatchObject({ code: 0 });
        scenario.checkInvariants();
        expect(scenario.physicalVends().filter((vend) => vend.selection === "A2")).toHaveLength(1);
        expect(bridge.deliveries).toBeGreaterThanOrEqual(bridge.store.size);
      });
    });
  });
}

async function drive(scenario: CrashScenario, child: ChildAgent, plan: CrashPlan): Promise<void> {
  const { bridge, machineId } = scenario;
  const send = (...args: Parameters<BridgeSide["fleet"]["send"]>) => bridge.fleet.send(...args).catch(() => "");
  const sessionId = "first";
  if (!(await waitFor(() => bridge.fleet.isOnline(machineId), child))) return;
  const pingId = await send(machineId, "ping", {});
  if (!(await waitFor(() => scenario.named("pong").some((e) => e.payload.commandId === pingId), child))) return;
  await send(machineId, "payment-pending", { sessionId: "abandoned", amountMinor: 1_000, currency: "EUR" });
  await send(machineId, "payment-pending", { sessionId, amountMinor: 1_000, currency: "EUR" });
  if (!(await waitFor(() => bridge.fleet.lastState(machineId)?.session?.sessionId === sessionId, child))) return;
  await send(machineId, "unlock", { sessionId, budgetMinor: 1_000, currency: "EUR" });
  if (!(await waitFor(() => scenario.named("unlocked").length > 0, child))) return;
  for (const selection of ["A1", "B1"]) {
    child.select(selection);
    if (plan.killMidVend) {
      // The power cut while the motor turns: the vend happened physically, its result was never written.
      await waitFor(() => scenario.physicalVends().length > 0, child);
      child.process.kill("SIGKILL");
      return;
    }
    const done = () =>
      [...scenario.named("vended"), ...scenario.named("vend-failed"), ...scenario.named("vend-unknown")].some(
        (event) => event.payload.selection === selection,
      );
    if (!(await waitFor(done, child))) return;
  }
  child.closeAtMachine();
  await waitFor(() => scenario.named("session-ended").some((e) => e.payload.sessionId === sessionId), child);
}
