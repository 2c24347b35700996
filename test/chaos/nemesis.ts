import type { CallFaultInput, NotificationFaultInput } from "../../backend-bridge/sandbox/fault-injector.ts";
import type { ChaosCluster, MachineSlot } from "./cluster.ts";
import type { Random } from "./random.ts";

/**
 * The seeded nemesis: one fault after another, chosen and timed by the seed, each undone before the next (SEQR and
 * notification faults are armed and stay until they fire). What it does to the fleet is what an operator's fleet
 * meets: processes killed (also mid-vend) and restarted, processes frozen longer than the MQTT keepalives, the
 * external broker restarted, SEQR failing or slow, notifications lost, late or doubled, links slow, partitioned or cut.
 */

export const nemesisActions = [
  "bridge-kill",
  "bridge-kill-mid-vend",
  "bridge-pause",
  "agent-kill",
  "agent-kill-mid-vend",
  "agent-pause",
  "broker-restart",
  "broker-restart-mid-purchase",
  "seqr-fault",
  "seqr-slow-invoice",
  "notification-fault",
  "link-delay",
  "link-delay-mid-purchase",
  "link-hold",
  "link-cut",
] as const;
export type NemesisAction = (typeof nemesisActions)[number];

/** Longer than the agents' keepalive (5 s) x 1.5, after which the broker and the agent both give the link up. */
const pauseMs = { min: 8_000, max: 12_000 };

export class Nemesis {
  readonly history: string[] = [];
  readonly #cluster: ChaosCluster;
  readonly #random: Random;
  readonly #actions: readonly NemesisAction[];
  readonly #startedAt = Date.now();
  #stopping = false;
  readonly #concurrency: number;
  #running: Promise<unknown> | undefined;

  /** `concurrency` loops run side by side (each with its own stream of choices), so faults also overlap. */
  constructor(cluster: ChaosCluster, random: Random, actions: readonly NemesisAction[], concurrency = 2) {
    this.#cluster = cluster;
    this.#concurrency = concurrency;
    this.#random = random;
    this.#actions = actions.filter(
      (action) => !action.startsWith("broker-restart") || cluster.options.broker === "mosquitto",
    );
  }

  start(): void {
    this.#running = Promise.all(
      Array.from({ length: this.#concurrency }, (_, index) => this.#loop(this.#random.fork(`loop-${index}`))),
    );
  }

  /** Ends after the action in progress is undone. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await this.#running;
  }

  async #loop(random: Random): Promise<void> {
    if (this.#actions.length === 0) return;
    while (!this.#stopping) {
      await this.#sleep(random.int(1_000, 4_000));
      if (this.#stopping) break;
      const action = random.pick(this.#actions);
      try {
        await this.#run(action, random);
      } catch (error) {
        // A restart that failed is retried by heal(); the run goes on.
        this.#log(`${action} failed: ${(error as Error).message.split("\n")[0]}`);
      }
    }
  }

  async #run(action: NemesisAction, random: Random): Promise<void> {
    const cluster = this.#cluster;
    switch (action) {
      case "bridge-kill":
      case "bridge-kill-mid-vend": {
        if (action === "bridge-kill-mid-vend") await this.#waitForVend(cluster.machines);
        this.#log(action);
        await cluster.killBridge();
        await this.#sleep(random.int(200, 3_000));
        await cluster.restartBridge();
        this.#log("(bridge restarted)");
        return;
      }
      case "bridge-pause": {
        const ms = random.int(pauseMs.min, pauseMs.max);
        this.#log(`bridge-pause ${ms} ms`);
        cluster.pauseBridge();
        await this.#sleep(ms, true);
        cluster.resumeBridge();
        return;
      }
      case "agent-kill":
      case "agent-kill-mid-vend": {
        const slot = random.pick(cluster.machines);
        if (action === "agent-kill-mid-vend") await this.#waitForVend([slot]);
        this.#log(`${action} ${slot.id}`);
        await cluster.killAgent(slot);
        await this.#sleep(random.int(200, 3_000));
        await cluster.restartAgent(slot);
        return;
      }
      case "agent-pause": {
        const slot = random.pick(cluster.machines);
        const ms = random.int(pauseMs.min, pauseMs.max);
        this.#log(`agent-pause ${slot.id} ${ms} ms`);
        slot.agent?.pause();
        await this.#sleep(ms, true);
        slot.agent?.resume();
        return;
      }
      case "broker-restart":
      case "broker-restart-mid-purchase": {
        // Mid-purchase: the customer is about to confirm, so the unlock falls while the broker is down.
        if (action === "broker-restart-mid-purchase") await this.#waitForScreen(cluster.machines, "payment-pending");
        const ms = random.int(200, 4_000);
        this.#log(`${action} (down ${ms} ms)`);
        await cluster.stopBroker();
        await this.#sleep(ms, true);
        await cluster.startBroker();
        return;
      }
      case "seqr-fault": {
        const fault = this.#seqrFault(random);
        this.#log(`seqr-fault ${JSON.stringify(fault)}`);
        cluster.sandbox.faults.addCallFault(fault);
        return;
      }
      case "seqr-slow-invoice": {
        // Slower than SEQR's 5 s for createPurchase: the bridge must answer in time and not leave the claim.
        const fault: CallFaultInput = {
          operation: "sendInvoice",
          effect: { kind: "latency", ms: random.int(3_000, 9_000) },
        };
        this.#log(`seqr-slow-invoice ${JSON.stringify(fault)}`);
        cluster.sandbox.faults.addCallFault(fault);
        return;
      }
      case "notification-fault": {
        const mode = random.pick(["drop", "delay", "twice"] as const);
        const fault: NotificationFaultInput = {
          mode,
          times: random.int(1, 2),
          ...(mode === "delay" ? { delayMs: random.int(2_000, 15_000) } : {}),
          ...(random.chance(0.5) ? { trigger: random.pick(["confirm", "cancel"] as const) } : {}),
        };
        this.#log(`notification-fault ${JSON.stringify(fault)}`);
        cluster.sandbox.faults.addNotificationFault(fault);
        return;
      }
      case "link-delay": {
        const slot = random.pick(cluster.machines);
        const delay = random.int(2_000, 14_000);
        const ms = random.int(5_000, 20_000);
        this.#log(`link-delay ${slot.id} ${delay} ms for ${ms} ms`);
        slot.proxy.setDelay(delay);
        await this.#sleep(ms, true);
        slot.proxy.setDelay(0);
        return;
      }
      case "link-delay-mid-purchase": {
        // The unlock and its `unlocked` each take this long: together longer than the bridge's ack timeout, while
        // the unlock itself is still valid at the machine (an `unlocked` that arrives late).
        const slot = random.pick(cluster.machines);
        await this.#waitForScreen([slot], "payment-pending");
        const delay = random.int(8_000, 14_000);
        this.#log(`link-delay-mid-purchase ${slot.id} ${delay} ms for 30 s`);
        slot.proxy.setDelay(delay);
        await this.#sleep(30_000, true);
        slot.proxy.setDelay(0);
        return;
      }
      case "link-hold": {
        const slot = random.pick(cluster.machines);
        const ms = random.int(3_000, 15_000);
        this.#log(`link-hold ${slot.id} ${ms} ms`);
        slot.proxy.hold();
        await this.#sleep(ms, true);
        slot.proxy.release();
        return;
      }
      case "link-cut": {
        const slot = random.pick(cluster.machines);
        const ms = random.int(1_000, 8_000);
        this.#log(`link-cut ${slot.id} ${ms} ms`);
        slot.proxy.cut();
        await this.#sleep(ms, true);
        slot.proxy.heal();
        return;
      }
    }
  }

  #seqrFault(random: Random): CallFaultInput {
    const operation = random.pick([
      "sendInvoice",
      "getPaymentStatus",
      "updateInvoice",
      "commitReservation",
      "cancelInvoice",
    ] as const);
    const effects: CallFaultInput["effect"][] = [
      { kind: "http-status", status: 500 },
      { kind: "soap-fault" },
      { kind: "result-code", code: random.pick([90, 94]) },
      { kind: "garbage" },
    ];
    // Latency only where it does not stand for "SEQR slower than createPurchase may be" (seqr-slow-invoice does).
    if (operation !== "sendInvoice") effects.push({ kind: "latency", ms: random.int(1_000, 6_000) });
    const effect = random.pick(effects);
    // "after": SEQR acted but the bridge never learns it. Not for sendInvoice: an invoice whose reference never
    // reached the bridge cannot be cancelled by anyone, in SEQR's API as in the sandbox.
    const when = operation !== "sendInvoice" && effect.kind !== "latency" && random.chance(0.4) ? "after" : "before";
    return { operation, effect, when, times: random.int(1, 3) };
  }

  /** Waits (up to 15 s) until one of the machines is dispensing: a kill then lands mid-vend. */
  #waitForVend(slots: readonly MachineSlot[]): Promise<void> {
    return this.#waitForScreen(slots, "dispensing");
  }

  /** Waits (up to 15 s) until one of the machines shows `screen`; then the fault lands at that point of a purchase. */
  async #waitForScreen(slots: readonly MachineSlot[], screen: string): Promise<void> {
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && !this.#stopping) {
      for (const slot of slots) {
        if ((await slot.agent?.screen())?.name === screen) return;
      }
      await new Promise((wait) => setTimeout(wait, 50));
    }
  }

  /** `undoable`: a fault being held is undone when the nemesis is stopped, not left to the end of its time. */
  #sleep(ms: number, undoable = false): Promise<void> {
    return new Promise((resolve) => {
      const end = Date.now() + ms;
      const tick = () => {
        if (Date.now() >= end || (undoable && this.#stopping)) resolve();
        else setTimeout(tick, Math.min(200, end - Date.now()));
      };
      tick();
    });
  }

  #log(entry: string): void {
    this.history.push(`t+${((Date.now() - this.#startedAt) / 1000).toFixed(1)}s ${entry}`);
  }
}
