import type { AgentConfig } from "../config/schema/agent.ts";
import type { VendMechanism } from "../hardware/vend-mechanism.ts";
import { ExitCode, type ExitCodeValue } from "../platform/exit-codes.ts";
import type { Logger } from "../platform/logger.ts";
import type { SystemdNotifyHandle } from "../platform/systemd-service.ts";
import { type Agent, createAgent } from "./agent.ts";
import type { ScreenOutput } from "./display/create-display.ts";
import type { JournalHooks } from "./journal/journal.ts";

/**
 * Runs the agent as a daemon until SIGTERM or SIGINT, then stops it gracefully (the vend in progress finishes or is
 * recorded as unknown, the journal is flushed, `offline` is published). A hard-exit timer guards a stop that hangs,
 * so systemd's TimeoutStopSec never has to SIGKILL us mid-write.
 */
export interface RunAgentOptions {
  config: AgentConfig;
  logger: Logger;
  mechanism: VendMechanism;
  screen?: ScreenOutput | undefined;
  journalHooks?: JournalHooks | undefined;
  version?: string;
  /** Longest graceful stop before the process exits anyway. */
  hardStopMs?: number;
  /** Called once the agent started (tests drive it through this). */
  onStarted?(agent: Agent): void;
  /**
   * systemd notify: READY=1 after start (which starts the watchdog), STOPPING=1 on the stop signal. main.ts opens it
   * (platform/systemd-service.ts) and registers the "hardware link alive" check on it; a no-op outside systemd.
   */
  systemd?: SystemdNotifyHandle | undefined;
}

export async function runAgent(options: RunAgentOptions): Promise<ExitCodeValue> {
  const agent = createAgent({
    config: options.config,
    logger: options.logger,
    mechanism: options.mechanism,
    screen: options.screen,
    journalHooks: options.journalHooks,
    ...(options.version ? { version: options.version } : {}),
  });
  const stopRequested = new Promise<NodeJS.Signals>((resolve) => {
    process.once("SIGTERM", () => resolve("SIGTERM"));
    process.once("SIGINT", () => resolve("SIGINT"));
  });
  try {
    await agent.start();
  } catch (error) {
    options.logger.fatal({ err: error }, "the agent could not start");
    return ExitCode.unavailable;
  }
  options.onStarted?.(agent);
  options.systemd?.ready("vending");
  const signal = await stopRequested;
  options.logger.info({ signal }, "stop requested");
  options.systemd?.stopping(`stopping (${signal})`);
  const hardStop = setTimeout(() => {
    options.logger.error("graceful stop took too long; exiting");
    process.exit(ExitCode.software);
  }, options.hardStopMs ?? 25_000);
  hardStop.unref();
  await agent.stop();
  clearTimeout(hardStop);
  options.systemd?.close();
  return ExitCode.ok;
}
