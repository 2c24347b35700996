import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import mqtt from "mqtt";
import { afterEach, describe, expect, it } from "vitest";
import type { CheckResult } from "../../agent/cli/doctor-checks.ts";
import { runProgram } from "../helpers/run-cli.ts";
import { openBroker, tempDir, writeAgentConfig } from "./fixtures.ts";

/**
 * `vend-agent doctor` as a technician runs it next to a live agent (issue 21, item 3): a diagnosis must not disturb the
 * machine it diagnoses. Each case runs the real CLI in a child process.
 */

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function scratch(): string {
  const dir = tempDir();
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const doctorChecks = (stdout: string) => (JSON.parse(stdout) as { checks: CheckResult[] }).checks;

describe("vend-agent doctor leaves the machine alone", () => {
  // Each case starts the real CLI (a Node process with tsx): generous time for a busy 2-core machine.
  it("logs in to the broker with its own client id: the agent's session is never taken over", {
    timeout: 120_000,
  }, async () => {
    const broker = await openBroker(cleanups);
    const machineId = "C0001";
    // The live agent's connection; reconnectPeriod 0 so that a takeover would show as a final close.
    const agent = await mqtt.connectAsync(broker.url, { clientId: machineId, reconnectPeriod: 0, clean: true });
    let agentClosed = 0;
    agent.on("close", () => {
      agentClosed += 1;
    });
    cleanups.push(() => agent.endAsync(true));
    await agent.subscribeAsync("probe/echo", { qos: 1 });

    const config = writeAgentConfig({ mqtt: { url: broker.url }, dataDir: scratch() });
    const run = await runProgram("agent/main.ts", ["doctor", "--json", "--config", config], {}, 60_000);
    const brokerCheck = doctorChecks(run.stdout).find((check) => check.id === "broker");
    expect(brokerCheck, run.stderr).toMatchObject({ status: "ok" });

    const doctorIds = broker.clientIds.filter((id) => id !== machineId);
    expect(doctorIds, `client ids the broker saw: ${broker.clientIds.join(", ")}`).toHaveLength(1);
    expect(broker.clientIds.filter((id) => id === machineId)).toHaveLength(1);
    // Positive evidence the agent's link still works after the doctor has finished: a round trip through the broker.
    const echoed = new Promise<string>((resolve) =>
      agent.once("message", (_topic, payload) => resolve(String(payload))),
    );
    await agent.publishAsync("probe/echo", "still here", { qos: 1 });
    expect(await echoed).toBe("still here");
    expect(agentClosed).toBe(0);
    expect(agent.connected).toBe(true);
  });

  it("creates no directories: a data directory that does not exist yet is reported, not made", {
    timeout: 120_000,
  }, async () => {
    const base = scratch();
    const dataDir = join(base, "var-lib", "vend-agent");
    const config = writeAgentConfig({ mqtt: { url: "mqtt://127.0.0.1:1" }, dataDir });
    const run = await runProgram("agent/main.ts", ["doctor", "--json", "--config", config], {}, 60_000);
    expect(existsSync(join(base, "var-lib")), "doctor created the data directory's parent").toBe(false);
    const check = doctorChecks(run.stdout).find((candidate) => candidate.id === "data-dir");
    expect(check, run.stderr).toMatchObject({ status: "ok", detail: expect.stringMatching(/does not exist yet/) });
  });
});
