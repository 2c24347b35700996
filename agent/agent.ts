import { randomUUID } from "node:crypto";
import type { AgentConfig } from "../config/schema/agent.ts";
import type { VendMechanism } from "../hardware/vend-mechanism.ts";
import { type Clock, systemClock, type TimerHandle } from "../platform/clock.ts";
import type { Logger } from "../platform/logger.ts";
import type { Catalog } from "../protocol/catalog.ts";
import type { MachineState } from "../protocol/messages.ts";
import { loadSavedCatalog, saveCatalog } from "./catalog-store.ts";
import { CommandHandler } from "./commands/command-handler.ts";
import type { ScreenOutput } from "./display/create-display.ts";
import { Outbox } from "./events/outbox.ts";
import { Journal, type JournalHooks } from "./journal/journal.ts";
import { AgentLink, reconnectDelayMs } from "./mqtt/link.ts";
import { VendSession } from "./session/vend-session.ts";

/**
 * The agent, assembled: journal (recovered first), vend session, outbox, command handler and MQTT link around one
 * vend mechanism. `start()` recovers and connects; `online` is announced once the mechanism is up. `stop()` is the
 * graceful stop of SIGTERM.
 */

export interface AgentDependencies {
  config: AgentConfig;
  logger: Logger;
  mechanism: VendMechanism;
  clock?: Clock;
  /** Crash-test hook: main.ts passes the one a test-only preload installed (journal/journal-hooks.ts), if any. */
  journalHooks?: JournalHooks | undefined;
  version?: string;
  /** How long stop() lets a vend in progress finish before recording it as unknown. */
  stopVendWaitMs?: number;
  /** Resend an unacknowledged event after this long (default 15 s; tests shorten it). */
  resendAfterMs?: number;
  /** The customer's screen (kiosk, framebuffer, terminal); its touch actions become selections and "done". */
  screen?: ScreenOutput | undefined;
}

export interface Agent {
  start(): Promise<void>;
  stop(): Promise<void>;
  readonly bootSeq: number;
  readonly bootId: string;
  state(): MachineState;
  /** The catalog in force: the configured one, or one a signed cmd/config replaced it with. */
  catalog(): Catalog;
  /** For tests and the technician CLI. */
  readonly journal: Journal | undefined;
}

export function createAgent(deps: AgentDependencies): Agent {
  const { config, mechanism } = deps;
  const clock = deps.clock ?? systemClock;
  const logger = deps.logger.child({ machineId: config.machine.id });
  const bootId = randomUUID();
  let journal: Journal | undefined;
  let link: AgentLink | undefined;
  let outbox: Outbox | undefined;
  let session: VendSession | undefined;
  let bootSeq = 0;
  let hardwareTimer: TimerHandle | undefined;
  let stopped = false;

  const state = (): MachineState => ({
    ...(session?.view() ?? { screen: "starting", session: null, lastFault: null }),
    hardware: { driver: mechanism.driver, link: mechanism.isUp() ? "up" : "down" },
    versions: { agent: deps.version ?? "0.0.0", contract: 1 },
    ts: clock.now(),
  });
  const showScreen = () => {
    const screen = deps.screen;
    if (!screen) return;
    screen
      .show(session?.displayState() ?? { screen: "starting" })
      .catch((error: unknown) => logger.warn({ err: error }, "the screen could not be drawn"));
  };
  const publishState = () => {
    showScreen();
    link?.publishState(state());
  };
  // A tap on the kiosk: the page only offers products on the choose-product screen, and the session decides anyway.
  deps.screen?.onAction((action) => {
    if (action.kind === "select") mechanism.requestSelection(action.selection);
    else if (action.kind === "cancel")
      void session?.customerCancel().catch((error: unknown) => logger.warn({ err: error }, "cancel not handled"));
    else void session?.customerDone().catch((error: unknown) => logger.warn({ err: error }, "done not handled"));
  });

  const startHardware = async (attempt: number): Promise<void> => {
    if (stopped) return;
    try {
      await mechanism.start();
    } catch (error) {
      const delay = reconnectDelayMs(attempt, 1_000, 60_000, Math.random);
      logger.error({ err: error, retryInMs: delay }, "the vend mechanism did not start; out of service until it does");
      publishState();
      hardwareTimer = clock.setTimeout(() => void startHardware(attempt + 1), delay);
      return;
    }
    logger.info({ driver: mechanism.driver }, "vend mechanism up");
    session?.hardwareStarted();
    link?.setOnline();
    publishState();
  };

  return {
    get bootSeq() {
      return bootSeq;
    },
    bootId,
    get journal() {
      return journal;
    },
    state,
    catalog: () => session?.catalog ?? config.catalog,
    async start() {
      journal = await Journal.open({
        dataDir: config.dataDir,
        logger,
        clock,
        hooks: deps.journalHooks,
        compactAfterBytes: config.journal.compactAfterBytes,
      });
      bootSeq = journal.state.bootSeq + 1;
      await journal.commit("boot", { t: "boot", bootSeq, bootId });
      logger.info({ bootSeq, bootId }, "agent starting");
      const catalog = loadSavedCatalog(config.dataDir, logger) ?? config.catalog;
      const activeJournal = journal;
      let linkRef: AgentLink | undefined;
      outbox = new Outbox({
        journal,
        clock,
        logger,
        ...(deps.resendAfterMs
          ? { resendAfterMs: deps.resendAfterMs, scanEveryMs: Math.ceil(deps.resendAfterMs / 2) }
          : {}),
        transport: {
          isConnected: () => linkRef?.isConnected() ?? false,
          publishEvent: (event) => linkRef?.publishEvent(event) ?? Promise.reject(new Error("no link")),
        },
      });
      const activeOutbox = outbox;
      session = new VendSession({
        journal,
        mechanism,
        catalog,
        mode: config.session.mode,
        selectionTimeoutMs: config.session.selectionTimeoutMs,
        paymentPendingTimeoutMs: config.session.paymentPendingTimeoutMs,
        ...chooseFirstOf(config.hardware),
        clock,
        logger,
        publish: (events) => activeOutbox.publish(events),
        onChange: publishState,
      });
      const commands = new CommandHandler({
        machineId: config.machine.id,
        commandKeyHex: config.commandKey,
        journal: activeJournal,
        outbox,
        session,
        clock,
        logger,
        saveCatalog: async (value) => saveCatalog(config.dataDir, value),
      });
      await session.recover();
      link = new AgentLink({
        mqtt: config.mqtt,
        machineId: config.machine.id,
        bootId,
        bootSeq,
        clock,
        logger,
        onCommand: (name, payload) => void commands.handle(name, payload),
        onConnected: () => activeOutbox.resendAll(),
      });
      linkRef = link;
      link.start();
      publishState();
      outbox.start();
      await startHardware(0);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      logger.info("stopping");
      if (hardwareTimer) clock.clearTimeout(hardwareTimer);
      await session?.stop(deps.stopVendWaitMs ?? 15_000);
      await mechanism.stop().catch((error: unknown) => logger.warn({ err: error }, "mechanism stop failed"));
      publishState();
      // Give the backend a moment to acknowledge the last events; whatever is left is resent after the restart.
      const until = clock.now() + 2_000;
      while (outbox && outbox.pendingCount > 0 && link?.isConnected() && clock.now() < until) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      outbox?.stop();
      await link?.stop();
      await journal?.close();
      logger.info({ unacknowledged: journal?.state.outbox.size ?? 0 }, "stopped");
    },
  };
}

/** Where a selection-first customer chooses: the VMC's keypad, or the kiosk screen standing in for the simulated one. */
function chooseFirstOf(hardware: AgentConfig["hardware"]): { chooseFirst?: "on-machine" | "on-screen" } {
  if (hardware.driver === "mdb" && hardware.alwaysIdle) return { chooseFirst: "on-machine" };
  if (hardware.driver === "simulator" && hardware.simulate === "mdb" && hardware.alwaysIdle)
    return { chooseFirst: "on-screen" };
  return {};
}
