import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type SeqrSandbox, startSeqrSandbox } from "../../backend-bridge/sandbox/seqr-sandbox.ts";
import { MosquittoProcess } from "../fleet/mosquitto-process.ts";
import { hasService, hasTool } from "../helpers/system-tools.ts";
import { BridgeProcess, freePort } from "./helpers/bridge-process.ts";
import { MqttMachine } from "./helpers/mqtt-machine.ts";
import { RoundRobinProxy } from "./helpers/round-robin-proxy.ts";
import {
  machineSecrets,
  publishUnlocked,
  SandboxShop,
  sessionEnd,
  vendOf,
  waitUntil,
  writeBridgeConfig,
} from "./helpers/sandbox-shop.ts";
import { createTestStore, type TestStore } from "./helpers/test-stores.ts";

/**
 * Issue 17: several bridge instances, as a reseller runs them for availability. Two real `vend-bridge run` processes
 * on one PostgreSQL schema, behind one address (a round-robin forwarder that skips an instance refusing connections,
 * as a load balancer does) and one Mosquitto (external broker mode, the events shared out through
 * `$share/<broker.sharedSubscriptionGroup>/…`). SEQR is the sandbox over HTTP, judging every invoice by its ledger;
 * the machines are played over raw MQTT. Any instance must answer any createPurchase, notification or event, and when
 * one is SIGKILLed mid-purchase the other must finish the purchase, billing exactly what was vended, once.
 *
 * Mosquitto 2.0.11 drops the in-flight messages of a dead clean-session $share member instead of handing them to
 * another member (eclipse-mosquitto/mosquitto#2662): the machines resend an event left unacknowledged for
 * `resendAfterMs`, as the agent does, and that recovers it.
 */

const machineIds = ["S1", "S2", "D1", "U1", "V1", "C1"] as const;
type MachineId = (typeof machineIds)[number];
const secrets = machineSecrets(machineIds);
const group = "two-bridges";
const clientIds = ["bridge-instance-0", "bridge-instance-1"] as const;
const timeouts = {
  // Takeover within a test: a dead instance's deadlines are handled one sweep interval after they passed.
  sweepIntervalMs: 2_000,
  statusPollIntervalMs: 500,
  commandTtlMs: 4_000,
  unlockAckMs: 4_000,
};

const available = hasTool("mosquitto") && (await hasService("PostgreSQL", "127.0.0.1", 5432));

describe.runIf(available)(
  "two bridge instances on PostgreSQL behind one address and one Mosquitto ($share)",
  {
    timeout: 120_000,
  },
  () => {
    let dir: string;
    let configFile: string;
    let mosquitto: MosquittoProcess;
    let testStore: TestStore;
    let sandbox: SeqrSandbox;
    let proxy: RoundRobinProxy;
    let shop: SandboxShop;
    const httpPorts: number[] = [];
    const instances: (BridgeProcess | undefined)[] = [undefined, undefined];
    /** Starts in progress. */
    const starting: (Promise<BridgeProcess> | undefined)[] = [undefined, undefined];
    const machines = new Map<MachineId, MqttMachine>();

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), "vend-two-bridges-"));
      mosquitto = await MosquittoProcess.start();
      testStore = await createTestStore("postgres");
      httpPorts.push(await freePort(), await freePort());
      proxy = await RoundRobinProxy.start(httpPorts.map((port) => `http://127.0.0.1:${port}`));
      sandbox = await startSeqrSandbox({ port: 0, ups: { createPurchaseUrl: `${proxy.url}/seqr/createPurchase` } });
      shop = new SandboxShop(sandbox, testStore.store, logs);
      configFile = join(dir, "bridge.yaml");
      writeBridgeConfig(configFile, {
        httpPort: httpPorts[0]!,
        // SEQR reaches every instance at the one public address, notifications included.
        publicBaseUrl: `${proxy.url}/seqr`,
        sandbox,
        broker: { mode: "external", url: mosquitto.url, sharedSubscriptionGroup: group },
        storeUrl: testStore.url,
        machines: secrets,
        timeouts,
      });
      await Promise.all([0, 1].map((index) => restart(index)));
      for (const id of machineIds) {
        const { mqttPassword, commandKey } = secrets[id];
        machines.set(
          id,
          new MqttMachine({
            url: mosquitto.url,
            machineId: id,
            password: mqttPassword,
            commandKey,
            resendAfterMs: 1_500,
          }),
        );
      }
      await bothUp();
    }, 120_000);

    afterAll(async () => {
      for (const machine of machines.values()) await machine.close();
      await Promise.allSettled(starting);
      for (const instance of instances) await instance?.stop();
      await proxy?.close();
      await sandbox?.close();
      await testStore?.cleanup();
      await mosquitto?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    function logs(): string {
      return instances.map((instance, index) => `--- instance ${index} ---\n${instance?.output() ?? ""}`).join("\n");
    }

    /** Starts instance `index` (its own HTTP port and SEQR clientId, the same config, store and broker). */
    function restart(index: number): Promise<BridgeProcess> {
      const start = BridgeProcess.start(configFile, httpPorts[index]!, () => true, 60_000, {
        VEND_BRIDGE_HTTP__PORT: String(httpPorts[index]),
        VEND_BRIDGE_SEQR__CLIENT_ID: clientIds[index],
      }).then((instance) => {
        instances[index] = instance;
        return instance;
      });
      starting[index] = start;
      return start;
    }

    async function online(index: number): Promise<boolean> {
      try {
        const response = await fetch(instances[index]!.healthUrl);
        const body = (await response.json()) as { machinesOnline: number };
        return response.status === 200 && body.machinesOnline >= machineIds.length;
      } catch {
        return false;
      }
    }

    /** Both instances running (a killed one started again) and seeing every machine online. */
    async function bothUp(): Promise<void> {
      for (const [index, instance] of instances.entries()) if (instance?.exitStatus) void restart(index);
      await Promise.all(starting);
      await waitUntil("both instances seeing every machine online", async () =>
        (await online(0)) && (await online(1)) ? true : undefined,
      ).catch((error: unknown) => {
        throw new Error(`${(error as Error).message}\n${logs()}`);
      });
    }

    /**
     * SIGKILL: the instance dies mid-whatever, and stays dead for the rest of the case (started again, it would resume
     * the purchase from the store itself: the other instance has to do it alone).
     */
    async function kill(index: number): Promise<void> {
      await instances[index]!.kill();
      expect(instances[index]!.exitStatus?.signal).toBe("SIGKILL");
    }

    /** SIGSTOP / SIGCONT: the instance keeps its connections but handles nothing. */
    function pause(index: number, paused: boolean): void {
      process.kill(instances[index]!.pid!, paused ? "SIGSTOP" : "SIGCONT");
    }

    /** Which instance answered the latest createPurchase. */
    function creator(): number {
      const created = proxy.answered.filter(({ path }) => path.endsWith("/createPurchase")).at(-1);
      if (!created) throw new Error("no createPurchase answered");
      return created.upstream;
    }

    /** The purchase's audit rows with `reason`. */
    async function audited(sessionId: string, reason: string): Promise<number> {
      return (await testStore.store.listAudit(sessionId)).filter((entry) => entry.reason === reason).length;
    }

    /** A purchase on `id` with one vend of `selection`, from scan to commit, handled by whichever instance is asked. */
    async function sell(id: MachineId, selection: "A1" | "A2"): Promise<{ reference: string; minor: number }> {
      const machine = machines.get(id)!;
      const { reference, sessionId } = await shop.purchaseOn(machine);
      shop.confirm(reference);
      const unlock = await shop.expectUnlock(machine, sessionId);
      await machine.waitForAck(publishUnlocked(machine, sessionId, unlock.payload.commandId));
      const vend = vendOf(sessionId, "v1", selection);
      await machine.waitForAck(machine.publish("vended", vend));
      await machine.waitForAck(machine.publish("session-ended", sessionEnd(sessionId, 1, vend.priceMinor)));
      await shop.waitForState(reference, "committed");
      return { reference, minor: vend.priceMinor };
    }

    it("purchases spread over both instances, createPurchase and notifications answered by each: every one billed exactly", async () => {
      await bothUp();
      const sold: { reference: string; minor: number }[] = [];
      for (let round = 0; round < 3; round++) {
        // Two customers at once: the forwarder hands their requests to both instances.
        sold.push(...(await Promise.all([sell("S1", "A1"), sell("S2", round % 2 === 0 ? "A2" : "A1")])));
      }
      for (const { reference, minor } of sold) shop.expectPaidOnce(reference, minor);
      expect(proxy.answeredBy("/seqr/createPurchase").every((count) => count > 0)).toBe(true);
      expect(proxy.answeredBy("/seqr/notify/").every((count) => count > 0)).toBe(true);
      // SEQR saw both instances at work.
      const callers = new Set(sandbox.soap.calls().map((call) => call.clientId));
      expect([...clientIds].every((id) => callers.has(id))).toBe(true);
    });

    it("the instance that created the purchase dies before the customer confirms and SEQR's notification to it is lost: the other one polls, unlocks and commits", async () => {
      await bothUp();
      const machine = machines.get("D1")!;
      const { reference, sessionId } = await shop.purchaseOn(machine);
      const victim = creator();
      await kill(victim);
      // The notification went to the dead instance: nobody hears it. SEQR reverses the payment 20 s after the
      // confirmation unless somebody fetches its status.
      sandbox.faults.addNotificationFault({ invoiceReference: reference, mode: "drop" });
      const confirmedAt = Date.now();
      shop.confirm(reference);
      await shop.waitForState(reference, "reserved", 20_000);
      expect(Date.now() - confirmedAt).toBeLessThan(20_000);
      const unlock = await shop.expectUnlock(machine, sessionId);
      publishUnlocked(machine, sessionId, unlock.payload.commandId);
      machine.publish("vended", vendOf(sessionId, "v1", "A2"));
      await machine.waitForAck(machine.publish("session-ended", sessionEnd(sessionId, 1, 200)));
      await shop.waitForState(reference, "committed");
      shop.expectPaidOnce(reference, 200);
      expect(sandbox.notifier.attempts(reference).map((attempt) => attempt.outcome)).toEqual(["dropped"]);
      // Only the survivor asked SEQR about it after the confirmation.
      const asked = shop.callsFor("getPaymentStatus", reference).filter((call) => call.at >= confirmedAt);
      expect(new Set(asked.map((call) => call.clientId))).toEqual(new Set([clientIds[1 - victim]]));
    });

    it("the instance that sent the unlock dies before the machine answers it: the other one flags and pings the machine, resends the unlock, and commits", async () => {
      await bothUp();
      const machine = machines.get("U1")!;
      const victim = 0;
      const survivor = 1;
      // Everything of this purchase goes to the victim until it dies: the survivor is frozen, the forwarder prefers it.
      proxy.prefer(victim);
      pause(survivor, true);
      let reference: string;
      let sessionId: string;
      let first: Awaited<ReturnType<SandboxShop["expectUnlock"]>>;
      try {
        ({ reference, sessionId } = await shop.purchaseOn(machine));
        shop.confirm(reference);
        first = await shop.expectUnlock(machine, sessionId);
        await kill(victim);
      } finally {
        pause(survivor, false);
        proxy.prefer(undefined);
      }
      // The machine does not answer in time. The unlock-ack timer died with the victim: the survivor's sweep declares it.
      await waitUntil("the machine flagged unavailable", async () =>
        (await testStore.store.machineUnavailableReason("U1")) === "unlock-not-acknowledged" ? true : undefined,
      );
      expect(await audited(sessionId, "unlock-not-acknowledged")).toBe(1);
      // Flagged machines are pinged; a machine in service says so, and the unlock it never answered goes again.
      const ping = await machine.waitForCommand("ping");
      const seen = machine.received("unlock").length;
      machine.publish("pong", { sessionId: null, commandId: ping.payload.commandId, inService: true });
      const again = await shop.expectUnlock(machine, sessionId, seen);
      expect(again.payload.commandId).toBe(first.payload.commandId);
      publishUnlocked(machine, sessionId, again.payload.commandId);
      machine.publish("vended", vendOf(sessionId, "v1", "A1"));
      await machine.waitForAck(machine.publish("session-ended", sessionEnd(sessionId, 1, 150)));
      await shop.waitForState(reference, "committed");
      shop.expectPaidOnce(reference, 150);
      expect(await testStore.store.machineUnavailableReason("U1")).toBeUndefined();
      expect(await audited(sessionId, "unlock-not-acknowledged")).toBe(1);
    });

    it("the creating instance dies mid-vend with a vend report in flight to it: the machine resends it, the other one commits the right amount", async () => {
      await bothUp();
      const machine = machines.get("V1")!;
      const { reference, sessionId } = await shop.purchaseOn(machine);
      const victim = creator();
      shop.confirm(reference);
      const unlock = await shop.expectUnlock(machine, sessionId);
      await machine.waitForAck(publishUnlocked(machine, sessionId, unlock.payload.commandId));
      // Frozen, the victim still holds its place in the $share group: Mosquitto hands it one of the two reports.
      pause(victim, true);
      const resendsBefore = machine.resends;
      const reports = [machine.publish("vended", vendOf(sessionId, "v1", "A1"))];
      reports.push(machine.publish("vended", vendOf(sessionId, "v2", "A2")));
      await new Promise((resolve) => setTimeout(resolve, 300));
      await kill(victim);
      for (const report of reports) await machine.waitForAck(report);
      expect(machine.resends).toBeGreaterThan(resendsBefore);
      await machine.waitForAck(machine.publish("session-ended", sessionEnd(sessionId, 2, 350)));
      await shop.waitForState(reference, "committed");
      shop.expectPaidOnce(reference, 350);
      expect(sandbox.ledger.get(reference)?.rows.map((row) => row.total.minor)).toEqual([150, 200]);
    });

    it("the instance committing at SEQR dies with the commit in flight: exactly one commit, of the right amount", async () => {
      await bothUp();
      const machine = machines.get("C1")!;
      const { reference, sessionId } = await shop.purchaseOn(machine);
      shop.confirm(reference);
      // SEQR takes its time over this commit: the instance making it dies meanwhile, SEQR completes it anyway.
      const inFlight = await shop.sellColaWithSlowCommit(machine, reference, sessionId, 2_000);
      const committer = clientIds.indexOf(inFlight.clientId as (typeof clientIds)[number]);
      expect(committer).toBeGreaterThanOrEqual(0);
      await kill(committer);
      // The survivor retakes the outbox row when the dead one's lease ends, and learns from SEQR that it was paid.
      await shop.waitForState(reference, "committed");
      shop.expectPaidOnce(reference, 200);
      expect(shop.callsFor("getPaymentStatus", reference).at(-1)?.clientId).toBe(clientIds[1 - committer]);
    });
  },
);
