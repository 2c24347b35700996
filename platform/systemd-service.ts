import type { ExitCodeValue } from "./exit-codes.ts";
import { type GracefulShutdown, installGracefulShutdown } from "./graceful-shutdown.ts";
import type { Logger } from "./logger.ts";
import { createSdNotifier, type NotifyTransportFactory, type SdNotifier } from "./sd-notify.ts";
import { createWatchdog, type HealthCheck, type Watchdog } from "./watchdog.ts";

/**
 * Everything a long-running program needs from systemd, in one place so that both composition roots do the same.
 *
 * A program that owns its signal handling (agent/run-agent.ts) takes the notify side only:
 *
 *   const systemd = await openSystemdNotify({ env, logger });
 *   systemd.registerHealthCheck("hardware link alive", hardwareLinkCheck({ isUp: () => mechanism.isUp(),
 *     lastSignOfLifeAt: () => mechanism.lastSignOfLifeAt?.(), maxSilenceMs: 60_000, maxDownMs: 600_000 }));
 *   return runAgent({ ..., systemd });    // ready() after start, stopping() on SIGTERM, close() at the end
 *
 * A program without signal handling of its own takes the whole thing (notify + graceful-shutdown.ts):
 *
 *   const service = await startSystemdService({ env, logger, hardExitMs: bridgeShutdownTimeoutMs,
 *     stop: () => app.stop() });
 *   service.ready("serving");
 *   return await service.stopped;      // the exit code, after SIGTERM/SIGINT and stop()
 *
 * Outside systemd (no $NOTIFY_SOCKET) the notify calls are no-ops; the signal handling remains.
 */

export interface SystemdServiceOptions {
  env: NodeJS.ProcessEnv;
  logger: Logger;
  /** The program's own stop (park/finish the vend, flush, publish offline / stop taking requests, drain). */
  stop: (reason: string) => Promise<void>;
  /** Hard-exit timer of the shutdown; below the unit's TimeoutStopSec. */
  hardExitMs: number;
  /** Ends the process after the shutdown; process.exit by default. */
  exit?: (code: ExitCodeValue) => void;
  transportFactory?: NotifyTransportFactory;
  /** Overrides of the watchdog's loop-lag threshold (ms). */
  maxLoopLagMs?: number;
}

export interface SystemdService {
  readonly notifier: SdNotifier;
  readonly watchdog: Watchdog;
  readonly shutdown: GracefulShutdown;
  /** Resolves with the exit code once a signal (or `shutdown.shutdown()`) stopped the program. */
  readonly stopped: Promise<ExitCodeValue>;
  registerHealthCheck(name: string, check: HealthCheck): () => void;
  /** Tells systemd the program is fully started and starts the watchdog pings. */
  ready(status?: string): void;
  status(text: string): void;
}

/**
 * The notify side alone (READY, STATUS, watchdog, STOPPING), for programs that already own their signal handling
 * (agent/run-agent.ts): they call `ready()` after start-up and `stopping()` when a stop signal arrives.
 */
export interface SystemdNotifyHandle {
  readonly notifier: SdNotifier;
  readonly watchdog: Watchdog;
  registerHealthCheck(name: string, check: HealthCheck): () => void;
  /** Tells systemd the program is fully started and starts the watchdog pings. */
  ready(status?: string): void;
  status(text: string): void;
  stopping(status?: string): void;
  close(): void;
}

export async function openSystemdNotify(options: {
  env: NodeJS.ProcessEnv;
  logger: Logger;
  transportFactory?: NotifyTransportFactory;
  maxLoopLagMs?: number;
}): Promise<SystemdNotifyHandle> {
  const logger = options.logger.child({ module: "systemd" });
  const notifier = await createSdNotifier({
    env: options.env,
    logger,
    ...(options.transportFactory ? { transportFactory: options.transportFactory } : {}),
  });
  const watchdog = createWatchdog({
    notifier,
    logger,
    ...(options.maxLoopLagMs !== undefined ? { maxLoopLagMs: options.maxLoopLagMs } : {}),
  });
  return {
    notifier,
    watchdog,
    registerHealthCheck: (name, check) => watchdog.registerHealthCheck(name, check),
    ready(status = "running") {
      notifier.ready(status);
      watchdog.start();
      logger.info({ notify: notifier.active, watchdogMs: notifier.watchdogMs }, "ready");
    },
    status: (text) => {
      notifier.status(text);
    },
    stopping: (status) => {
      notifier.stopping(status);
    },
    close() {
      watchdog.stop();
      notifier.close();
    },
  };
}

export async function startSystemdService(options: SystemdServiceOptions): Promise<SystemdService> {
  const logger = options.logger.child({ module: "systemd" });
  const handle = await openSystemdNotify(options);
  const { notifier, watchdog } = handle;
  let resolveStopped: (code: ExitCodeValue) => void = () => {};
  const stopped = new Promise<ExitCodeValue>((resolve) => {
    resolveStopped = resolve;
  });
  const exit = options.exit ?? ((code: ExitCodeValue) => process.exit(code));
  const shutdown = installGracefulShutdown({
    logger,
    notifier,
    hardExitMs: options.hardExitMs,
    stop: async (reason) => {
      await options.stop(reason);
    },
    exit: (code) => {
      handle.close();
      resolveStopped(code);
      exit(code);
    },
  });
  return {
    notifier,
    watchdog,
    shutdown,
    stopped,
    registerHealthCheck: handle.registerHealthCheck,
    ready: handle.ready,
    status: handle.status,
  };
}
