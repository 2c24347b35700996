import { performance } from "node:perf_hooks";
import type { Logger } from "./logger.ts";
import type { SdNotifier } from "./sd-notify.ts";

/**
 * The systemd watchdog, pinged only while the program is really healthy: the event loop turns without huge lag AND
 * every registered health check passes (the agent registers "hardware link alive": the last sign of life of the
 * serial adapter or vend board). When either fails, the pings stop and systemd restarts the service after WatchdogSec,
 * which is what a stuck serial driver or a wedged loop needs and what no code inside the process can do reliably.
 *
 * Pings are sent at half of WatchdogSec (sd_watchdog_enabled(3) recommends it), so one late or skipped ping is
 * tolerated and two in a row are not.
 */

export interface HealthCheckResult {
  ok: boolean;
  /** Why it failed, for the log line and `systemctl status`. */
  detail?: string;
}

export type HealthCheck = () => HealthCheckResult;

/**
 * A check built on a "last sign of life" time: a line from the MDB adapter, a POLL from the spiral board, a GPIO read.
 * `lastSeenAt` returns epoch milliseconds (or undefined before the first sign); stale after `maxAgeMs`.
 */
export function lastSignOfLifeCheck(
  lastSeenAt: () => number | undefined,
  maxAgeMs: number,
  now: () => number = Date.now,
): HealthCheck {
  const startedAt = now();
  return () => {
    // Before the first sign of life, the start-up itself counts, so a slow adapter power-up gets maxAgeMs too.
    const last = lastSeenAt() ?? startedAt;
    const ageMs = now() - last;
    return ageMs <= maxAgeMs ? { ok: true } : { ok: false, detail: `no sign of life for ${Math.round(ageMs)} ms` };
  };
}

export interface WatchdogOptions {
  notifier: SdNotifier;
  logger: Logger;
  /** Ping interval; half of the notifier's watchdog interval by default. */
  pingIntervalMs?: number;
  /** Loop lag above which the next ping is withheld; a quarter of WatchdogSec (at least 1 s) by default. */
  maxLoopLagMs?: number;
  /** How often the loop lag is sampled. */
  lagSampleMs?: number;
  /** Monotonic milliseconds; tests inject a fake-timer-driven clock. */
  now?: () => number;
}

export interface WatchdogTickResult {
  pinged: boolean;
  /** Why the ping was withheld (empty when healthy). */
  problems: string[];
  maxLoopLagMs: number;
}

export interface Watchdog {
  /** True when systemd asked for a watchdog for this process and the timers run. */
  readonly running: boolean;
  /** Adds a check; returns a function removing it (e.g. while the adapter is deliberately reopened). */
  registerHealthCheck(name: string, check: HealthCheck): () => void;
  /** Runs the checks now, without pinging: for `doctor`-style status and for tests. */
  evaluate(): { healthy: boolean; problems: string[] };
  start(): void;
  stop(): void;
  /** One ping decision; the interval timer calls it. Exposed for tests. */
  tick(): WatchdogTickResult;
}

export function createWatchdog(options: WatchdogOptions): Watchdog {
  const { notifier, logger } = options;
  const watchdogMs = notifier.watchdogMs;
  const pingIntervalMs = options.pingIntervalMs ?? (watchdogMs === undefined ? 0 : Math.max(1, watchdogMs / 2));
  const maxLoopLagMs = options.maxLoopLagMs ?? Math.max(1_000, (watchdogMs ?? 0) / 4);
  const lagSampleMs = options.lagSampleMs ?? Math.min(500, Math.max(10, pingIntervalMs / 4));
  const now = options.now ?? (() => performance.now());
  const checks = new Map<string, HealthCheck>();

  let pingTimer: NodeJS.Timeout | undefined;
  let lagTimer: NodeJS.Timeout | undefined;
  let lastSampleAt = now();
  let worstLagMs = 0;
  let withholding = false;

  const sampleLag = () => {
    const at = now();
    worstLagMs = Math.max(worstLagMs, at - lastSampleAt - lagSampleMs);
    lastSampleAt = at;
  };

  const evaluate = () => {
    const problems: string[] = [];
    for (const [name, check] of checks) {
      let result: HealthCheckResult;
      try {
        result = check();
      } catch (error) {
        result = { ok: false, detail: `check threw: ${(error as Error).message}` };
      }
      if (!result.ok) problems.push(`${name}: ${result.detail ?? "failing"}`);
    }
    return { healthy: problems.length === 0, problems };
  };

  const tick = (): WatchdogTickResult => {
    // The sample timer may not have fired since the loop was blocked: count the time since its last run as lag too.
    sampleLag();
    const lag = Math.max(0, worstLagMs);
    worstLagMs = 0;
    const { problems } = evaluate();
    if (lag > maxLoopLagMs) problems.unshift(`event loop lag ${Math.round(lag)} ms > ${maxLoopLagMs} ms`);
    if (problems.length > 0) {
      if (!withholding) {
        logger.error(
          { problems, watchdogMs },
          "watchdog pings withheld: systemd restarts the service after WatchdogSec unless this recovers",
        );
        notifier.status(`unhealthy: ${problems.join("; ")}`);
      }
      withholding = true;
      return { pinged: false, problems, maxLoopLagMs: lag };
    }
    if (withholding) {
      logger.warn("healthy again: watchdog pings resumed");
      notifier.status("running");
    }
    withholding = false;
    return { pinged: notifier.watchdogPing(), problems, maxLoopLagMs: lag };
  };

  return {
    get running() {
      return pingTimer !== undefined;
    },
    registerHealthCheck(name, check) {
      checks.set(name, check);
      return () => {
        if (checks.get(name) === check) checks.delete(name);
      };
    },
    evaluate,
    start() {
      if (pingTimer !== undefined || watchdogMs === undefined || pingIntervalMs <= 0) return;
      lastSampleAt = now();
      worstLagMs = 0;
      // unref: the watchdog must never be the thing that keeps a finished process alive.
      lagTimer = setInterval(sampleLag, lagSampleMs).unref();
      pingTimer = setInterval(tick, pingIntervalMs).unref();
      // A first ping right away: start-up may have used part of the interval already.
      tick();
    },
    stop() {
      if (pingTimer !== undefined) clearInterval(pingTimer);
      if (lagTimer !== undefined) clearInterval(lagTimer);
      pingTimer = undefined;
      lagTimer = undefined;
    },
    tick,
  };
}

export interface LinkHealthOptions {
  /** Whether the driver believes the link is up (VendMechanism.isUp). */
  isUp: () => boolean;
  /** Epoch ms of the last byte/line/poll from the device, when the driver tracks it (VendMechanism.lastSignOfLifeAt). */
  lastSignOfLifeAt?: (() => number | undefined) | undefined;
  /** An "up" link silent for longer is hung (a wedged USB-serial driver keeps the port open but delivers nothing). */
  maxSilenceMs: number;
  /**
   * A link down for longer means the driver's own reconnect loop is stuck too; a fresh process is the remedy left.
   * Shorter outages are left to that loop, so an unplugged adapter does not turn into a restart every few seconds.
   */
  maxDownMs: number;
  now?: () => number;
}

/** The agent's "hardware link alive" check, built from what the vend mechanism exposes. */
export function hardwareLinkCheck(options: LinkHealthOptions): HealthCheck {
  const now = options.now ?? Date.now;
  let lastUpAt = now();
  return () => {
    const at = now();
    if (!options.isUp()) {
      const downMs = at - lastUpAt;
      return downMs <= options.maxDownMs
        ? { ok: true }
        : { ok: false, detail: `link down for ${Math.round(downMs)} ms and not reconnected` };
    }
    lastUpAt = at;
    const last = options.lastSignOfLifeAt?.();
    if (last === undefined) return { ok: true };
    const silentMs = at - last;
    return silentMs <= options.maxSilenceMs
      ? { ok: true }
      : { ok: false, detail: `link up but silent for ${Math.round(silentMs)} ms` };
  };
}
