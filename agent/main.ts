#!/usr/bin/env node
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createVendMechanism } from "../hardware/index.ts";
import { type CliCommand, parseCommandArgs, requestedCommand, runCli } from "../platform/cli.ts";
import { systemClock } from "../platform/clock.ts";
import { createLogger } from "../platform/logger.ts";
import { openSystemdNotify } from "../platform/systemd-service.ts";
import { hardwareLinkCheck } from "../platform/watchdog.ts";
import type { Agent } from "./agent.ts";
import { loadSavedCatalog } from "./catalog-store.ts";
import { loadAgentConfig } from "./cli/agent-config.ts";
import { createScreenOutput } from "./display/create-display.ts";
import { installedJournalHooks } from "./journal/journal-hooks.ts";
import { runAgent } from "./run-agent.ts";

/** vend-agent: the composition root. `run` wires the parts of the agent; the other commands are technician tools. */
const runCommand: CliCommand = {
  name: "run",
  summary: "run the agent (the default command)",
  usage: "run [--config FILE] [--secrets-dir DIR]",
  run: async ({ argv, out, env }) => {
    const { values } = parseCommandArgs(argv, {});
    const loaded = loadAgentConfig(values, env, out);
    if (!loaded.ok) return loaded.exitCode;
    const config = loaded.config;
    const logger = createLogger({ name: "vend-agent", level: config.log.level });
    // Crash tests only: hooks a test preload installed (never in production, where nothing installs any).
    const journalHooks = installedJournalHooks();
    if (journalHooks) logger.warn("crash-test hook armed (installed by a test preload)");
    // A catalog delivered by a signed cmd/config (kept in dataDir) wins over the config file's starting catalog.
    const catalog = loadSavedCatalog(config.dataDir, logger) ?? config.catalog;
    const mechanism = createVendMechanism(config.hardware, catalog, { logger });
    // systemd: READY after start, STOPPING on SIGTERM, watchdog pings only while the hardware link is alive.
    const systemd = await openSystemdNotify({ env, logger });
    systemd.registerHealthCheck(
      "hardware link alive",
      hardwareLinkCheck({
        isUp: () => mechanism.isUp(),
        lastSignOfLifeAt: () => mechanism.lastSignOfLifeAt?.(),
        maxSilenceMs: 60_000,
        maxDownMs: 600_000,
      }),
    );
    let agent: Agent | undefined;
    const screen = await createScreenOutput(config, {
      clock: systemClock,
      logger,
      catalog: () => agent?.catalog() ?? catalog,
    });
    if (screen.url) logger.info({ url: screen.url }, "kiosk page ready: point the machine's browser at it");
    try {
      return await runAgent({
        config,
        logger,
        mechanism,
        screen,
        journalHooks,
        version: packageVersion(),
        systemd,
        onStarted: (started) => {
          agent = started;
        },
      });
    } finally {
      await screen.close();
    }
  },
};

/** The package's version, from the package.json above this file (agent/ in source, dist/agent/ when built). */
function packageVersion(): string {
  let dir = import.meta.dirname;
  for (let depth = 0; depth < 3; depth += 1) {
    const candidate = join(dir, "package.json");
    if (existsSync(candidate))
      return (JSON.parse(readFileSync(candidate, "utf8")) as { version?: string }).version ?? "0.0.0";
    dir = dirname(dir);
  }
  return "0.0.0";
}

// The daemon loads only what `run` needs: the technician's tools (QR stickers, serial probing, MQTT and doctor
// checks) cost the idle agent memory it keeps for as long as it runs (issue 20), so they load for their own commands.
const argv = process.argv.slice(2);
const commands =
  requestedCommand(argv) === runCommand.name
    ? [runCommand]
    : [runCommand, ...(await import("./cli/commands.ts")).agentToolCommands];
process.exitCode = await runCli("vend-agent", commands, argv);
