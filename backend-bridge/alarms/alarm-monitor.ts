import type { BridgeConfig } from "../../config/schema/bridge.ts";
import type { Clock, TimerHandle } from "../../platform/clock.ts";
import type { Logger } from "../../platform/logger.ts";
import type { FleetLink } from "../fleet/fleet-link.ts";
import type { MachineRegistry } from "../registry/machine-registry.ts";
import type { Store } from "../store/store.ts";
import { jammedSlots, openReconciliation } from "./alarm-facts.ts";
import { type Alarm, activeAlarms, alarmChanges, nextAlarmDue } from "./alarm-rules.ts";
import { AlarmWebhook } from "./alarm-webhook.ts";
import { PresenceLog } from "./presence-log.ts";

export interface AlarmMonitorDeps {
  store: Store;
  registry: Pick<MachineRegistry, "list">;
  fleet: Pick<FleetLink, "isOnline" | "onAvailability" | "onConnectionChange">;
  clock: Clock;
  logger: Logger;
  settings: BridgeConfig["alarms"];
}

/**
 * The shell around the alarm decision: gathers the facts (presence from the fleet link, jams and the reconciliation
 * queue from the store), decides, keeps the active set for the console and hands each alarm raised or cleared to
 * the webhook. It runs every `evaluateIntervalMs` and at once when a machine's availability or the bridge's link to
 * the broker changes. A failure here is logged and never reaches a purchase: the previous alarms stay shown.
 */
export class AlarmMonitor {
  readonly presence: PresenceLog;
  readonly webhook: AlarmWebhook | undefined;
  readonly #deps: AlarmMonitorDeps;
  readonly #log: Logger;
  #active: Alarm[] = [];
  #timer: TimerHandle | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  /** When a threshold will be crossed next: the timer wakes then if that is before the next periodic evaluation. */
  #nextDue: number | undefined;
  #stopped = true;
  #listening = false;
  readonly #listeners: ((alarms: readonly Alarm[]) => void)[] = [];

  constructor(deps: AlarmMonitorDeps) {
    this.#deps = deps;
    this.#log = deps.logger.child({ module: "alarms" });
    this.presence = new PresenceLog(deps.clock.now());
    const { webhook } = deps.settings;
    this.webhook =
      webhook.url === undefined
        ? undefined
        : new AlarmWebhook({ settings: { ...webhook, url: webhook.url }, clock: deps.clock, logger: deps.logger });
  }

  /** The alarms active at the last evaluation, oldest first. */
  active(): readonly Alarm[] {
    return this.#active;
  }

  /** Hears of every evaluation that changed the set (tests wait on it). */
  onChange(listener: (alarms: readonly Alarm[]) => void): void {
    this.#listeners.push(listener);
  }

  start(): void {
    this.#stopped = false;
    if (!this.#listening) {
      this.#listening = true;
      const { fleet, clock } = this.#deps;
      fleet.onAvailability((machineId, availability) => {
        // The time of the change is now, not at the next evaluation; an online message says when the agent came online
        // (never later than now: its clock may run ahead of ours).
        const online = fleet.isOnline(machineId);
        const agentTime = online && availability.state === "online";
        const at = agentTime ? Math.min(clock.now(), availability.ts) : clock.now();
        this.presence.observe(machineId, online, at, { exact: agentTime });
        void this.evaluate();
      });
      fleet.onConnectionChange?.(() => void this.evaluate());
    }
    void this.evaluate();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) this.#deps.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
    await this.webhook?.stop();
  }

  /** Evaluates now (once more after the running evaluation, if one runs). Never rejects. */
  evaluate(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    if (this.#running !== undefined) {
      this.#again = true;
      return this.#running;
    }
    this.#running = this.#evaluateUntilSettled().finally(() => {
      this.#running = undefined;
      this.#schedule();
    });
    return this.#running;
  }

  async #evaluateUntilSettled(): Promise<void> {
    do {
      this.#again = false;
      try {
        await this.#evaluateOnce();
      } catch (error) {
        this.#log.error({ err: error }, "alarm evaluation failed; the previous alarms stay");
      }
    } while (this.#again && !this.#stopped);
  }

  async #evaluateOnce(): Promise<void> {
    const { store, registry, fleet, clock, settings } = this.#deps;
    const machineIds = (await registry.list()).map((machine) => machine.machineId);
    for (const machineId of machineIds) this.presence.observe(machineId, fleet.isOnline(machineId), clock.now());
    const [jammed, reconciliation] = await Promise.all([jammedSlots(store, machineIds), openReconciliation(store)]);
    const now = clock.now();
    const presence = machineIds.flatMap((machineId) => {
      const known = this.presence.get(machineId);
      return known ? [{ machineId, ...known }] : [];
    });
    const facts = { now, presence, jammedSlots: jammed, reconciliation };
    const next = activeAlarms(facts, settings);
    this.#nextDue = nextAlarmDue(facts, settings);
    const { raised, cleared } = alarmChanges(this.#active, next);
    this.#active = next;
    if (raised.length === 0 && cleared.length === 0) return;
    for (const alarm of cleared) {
      this.#log.info({ alarmId: alarm.id }, "alarm cleared");
      this.webhook?.notify({ event: "cleared", alarm, at: now });
    }
    for (const alarm of raised) {
      this.#log.warn({ alarmId: alarm.id, message: alarm.message }, "alarm raised");
      this.webhook?.notify({ event: "raised", alarm, at: now });
    }
    for (const listener of this.#listeners) listener(next);
  }

  #schedule(): void {
    if (this.#stopped) return;
    if (this.#timer) this.#deps.clock.clearTimeout(this.#timer);
    const { clock, settings } = this.#deps;
    const untilDue = this.#nextDue === undefined ? Number.POSITIVE_INFINITY : this.#nextDue - clock.now();
    this.#timer = clock.setTimeout(
      () => {
        this.#timer = undefined;
        void this.evaluate();
      },
      Math.max(0, Math.min(settings.evaluateIntervalMs, untilDue)),
    );
    this.#timer.unref?.();
  }
}
