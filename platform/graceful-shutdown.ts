import { ExitCode, type ExitCodeValue } from "./exit-codes.ts";
import type { Logger } from "./logger.ts";
import type { SdNotifier } from "./sd-notify.ts";

/**
 * The signal wiring around a program's own stop(): on SIGTERM (systemctl stop, a reboot) or SIGINT (Ctrl-C of a
 * technician) tell systemd STOPPING=1, run stop() once (the agent finishes or parks the vend in progress, flushes its
 * journal and publishes offline; the bridge stops taking requests and drains), then exit. A hard-exit timer bounds the
 * whole thing below the unit's TimeoutStopSec, so the program exits by itself with a logged reason instead of being
 * SIGKILLed mid-write by systemd.
 *
 * Timer budget: agent 25 s (TimeoutStopSec=30s), bridge 15 s (TimeoutStopSec=20s). Keep the units in step.
 */

export const agentShutdownTimeoutMs = 25_000;
export const bridgeShutdownTimeoutMs = 15_000;

export interface ShutdownSignalSource {
  on(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
  off(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
}

export interface GracefulShutdownOptions {
  logger: Logger;
  notifier?: SdNotifier;
  /** The program's own stop; the reason is the signal name or what the caller passed to `shutdown()`. */
  stop: (reason: string) => Promise<void>;
  /** Exit anyway after this long; below TimeoutStopSec. */
  hardExitMs: number;
  /** Ends the process; `process.exit` by default. */
  exit?: (code: ExitCodeValue) => void;
  signals?: readonly NodeJS.Signals[];
  /** Where signals come from; `process` by default. */
  source?: ShutdownSignalSource;
}

export interface GracefulShutdown {
  /** Starts the shutdown (idempotent) and resolves with the exit code once stop() settled or the timer fired. */
  shutdown(reason: string): Promise<ExitCodeValue>;
  readonly stopping: boolean;
  /** Removes the signal listeners (tests, or a program that exits by itself). */
  dispose(): void;
}

export function installGracefulShutdown(options: GracefulShutdownOptions): GracefulShutdown {
  const { logger, notifier, hardExitMs } = options;
  const exit = options.exit ?? ((code: ExitCodeValue) => process.exit(code));
  const signals = options.signals ?? (["SIGTERM", "SIGINT"] as const);
  const source: ShutdownSignalSource = options.source ?? process;
  let running: Promise<ExitCodeValue> | undefined;

  const shutdown = (reason: string): Promise<ExitCodeValue> => {
    if (running !== undefined) {
      logger.warn({ reason }, "already stopping; waiting for the current shutdown to finish");
      return running;
    }
    const startedAt = Date.now();
    logger.info({ reason, hardExitMs }, "stopping");
    notifier?.stopping(`stopping (${reason})`);
    running = new Promise<ExitCodeValue>((resolve) => {
      let settled = false;
      const finish = (code: ExitCodeValue) => {
        if (settled) return;
        settled = true;
        clearTimeout(hardTimer);
        resolve(code);
        exit(code);
      };
      const hardTimer = setTimeout(() => {
        logger.error(
          { reason, hardExitMs },
          "shutdown did not finish in time: exiting now (whatever was not flushed is recovered at next start)",
        );
        finish(ExitCode.software);
      }, hardExitMs);
      Promise.resolve()
        .then(() => options.stop(reason))
        .then(
          () => {
            logger.info({ reason, tookMs: Date.now() - startedAt }, "stopped cleanly");
            finish(ExitCode.ok);
          },
          (error: unknown) => {
            logger.error({ err: error, reason }, "stop failed");
            finish(ExitCode.failure);
          },
        );
    });
    return running;
  };

  const onSignal = (signal: NodeJS.Signals) => {
    void shutdown(signal);
  };
  for (const signal of signals) source.on(signal, onSignal);

  return {
    shutdown,
    get stopping() {
      return running !== undefined;
    },
    dispose() {
      for (const signal of signals) source.off(signal, onSignal);
    },
  };
}
