#!/usr/bin/env node
import { loadOrReport } from "../config/cli.ts";
import { formatProblems } from "../config/report.ts";
import { type BridgeConfig, bridgeConfigSpec } from "../config/schema/bridge.ts";
import { type CliCommand, parseCommandArgs, runCli } from "../platform/cli.ts";
import { systemClock } from "../platform/clock.ts";
import { ExitCode, type ExitCodeValue } from "../platform/exit-codes.ts";
import { bridgeShutdownTimeoutMs } from "../platform/graceful-shutdown.ts";
import { createLogger, type Logger } from "../platform/logger.ts";
import { redactUrlCredentials } from "../platform/redact.ts";
import { openSystemdNotify } from "../platform/systemd-service.ts";
import { createBridgeApp } from "./bridge-app.ts";
import { type EmbeddedBroker, startEmbeddedBroker } from "./broker/embedded-broker.ts";
import { bridgeMqttPassword, embeddedBrokerOptionsFromConfig } from "./broker/from-config.ts";
import { bridgeToolCommands } from "./cli/commands.ts";
import { fleetConnectionFromConfig } from "./fleet/connection-from-config.ts";
import { MqttFleetLink } from "./fleet/mqtt-fleet-link.ts";
import { MachineRegistry } from "./registry/machine-registry.ts";
import { insecureChoices } from "./security/insecure-choices.ts";
import { tlsFileProblems } from "./security/tls-files.ts";
import { createSeqrClient } from "./seqr/seqr-client-factory.ts";
import { openStore } from "./store/open-store.ts";
import type { Store } from "./store/store.ts";

/** vend-bridge: the composition root. `run` wires the parts of the bridge; the other commands are operator tools. */
const runCommand: CliCommand = {
  name: "run",
  summary: "run the bridge (the default command)",
  usage: "run [--config FILE] [--secrets-dir DIR]",
  run: async ({ argv, out, env }) => {
    const { values } = parseCommandArgs(argv, {});
    const loaded = loadOrReport(
      bridgeConfigSpec,
      { configFile: values.config, secretsDir: values["secrets-dir"], env },
      out,
    );
    if (!loaded.ok) return loaded.exitCode;
    const fileProblems = tlsFileProblems(loaded.config);
    if (fileProblems.length > 0) {
      out.error(formatProblems("vend-bridge", fileProblems));
      return ExitCode.config;
    }
    const logger = createLogger({ name: "vend-bridge", level: loaded.config.log.level });
    return runBridge(loaded.config, logger, env);
  },
};

/**
 * config -> logger -> store -> registry -> broker (embedded) + fleet link -> SEQR client -> orchestrator, outbox and
 * HTTP server. SIGTERM/SIGINT: stop taking requests, let those in flight and the outbox pass finish, then close the
 * fleet link, the broker and the store, in that order. Open purchases resume from the store at the next start.
 */
async function runBridge(config: BridgeConfig, logger: Logger, env: NodeJS.ProcessEnv): Promise<ExitCodeValue> {
  // Every protection the configuration turns off is said at every start, not only on the day it was chosen.
  for (const choice of insecureChoices(config)) {
    logger.warn({ key: choice.key }, `insecure configuration: ${choice.key} turns off ${choice.turnsOff}`);
  }
  let store: Store;
  try {
    ({ store } = await openStore(config.store.url));
  } catch (error) {
    logger.fatal({ err: error, store: redactUrlCredentials(config.store.url) }, "cannot open the store");
    return ExitCode.unavailable;
  }
  const clock = systemClock;
  // systemd: READY once serving, STOPPING while draining, watchdog pings while the event loop is healthy.
  const systemd = await openSystemdNotify({ env, logger });
  const registry = new MachineRegistry({ machines: config.machines, store, clock });
  const bridgePassword = bridgeMqttPassword(config);
  let broker: EmbeddedBroker | undefined;
  let fleet: MqttFleetLink | undefined;
  let stopApp: (() => Promise<void>) | undefined;
  const closeAll = async () => {
    await stopApp?.().catch((error: unknown) => logger.error({ err: error }, "stopping the HTTP side failed"));
    await fleet?.stop().catch((error: unknown) => logger.error({ err: error }, "stopping the fleet link failed"));
    await broker?.close().catch((error: unknown) => logger.error({ err: error }, "stopping the broker failed"));
    await store.close().catch((error: unknown) => logger.error({ err: error }, "closing the store failed"));
  };
  try {
    if (config.broker.mode === "embedded") {
      // Machines' logins wait until our own link has subscribed (below): an agent resends its unacknowledged events
      // and answers a resent unlock right after connecting, and none of that may go to no subscriber.
      broker = await startEmbeddedBroker({
        ...embeddedBrokerOptionsFromConfig(config, { credentials: registry, bridgePassword, logger }),
        holdMachinesUntilAdmitted: true,
      });
    }
    fleet = new MqttFleetLink({
      ...fleetConnectionFromConfig(config, bridgePassword, broker),
      keys: registry,
      commandTtlMs: config.timeouts.commandTtlMs,
      registeredMachines: () => registry.machineIds(),
      retainedResync: { intervalMs: config.timeouts.availabilityResyncMs, batchSize: 100 },
      logger,
      clock,
    });
    const seqr = createSeqrClient(config.seqr, { logger, clock });
    const app = createBridgeApp({ config, store, seqr, fleet, clock, logger, registry });
    stopApp = () => app.stop();
    // Handlers first, then the link, then the machines: no event arrives before the orchestrator listens.
    const embedded = broker;
    if (embedded) {
      fleet.onConnectionChange((connected) => {
        if (connected) embedded.admitMachines();
      });
    }
    await app.start();
    await fleet.start();
    // start() gives up waiting after a while (the link keeps trying): machines are not locked out meanwhile.
    embedded?.admitMachines();
    logger.info(
      {
        http: app.http.url,
        admin: app.admin.url,
        mqtt: broker
          ? {
              ...(broker.tlsPort !== undefined ? { tls: broker.tlsPort } : {}),
              ...(broker.tcpPort !== undefined ? { plain: broker.tcpPort } : {}),
            }
          : "external",
        callerAuth: config.callerAuth.mode,
        store: store.dialect,
        broker: config.broker.mode,
        publicBaseUrl: config.http.publicBaseUrl,
      },
      "bridge running",
    );
    systemd.ready("serving");
  } catch (error) {
    logger.fatal({ err: error }, "the bridge could not start");
    await closeAll();
    systemd.close();
    return ExitCode.unavailable;
  }
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once("SIGTERM", () => resolve("SIGTERM"));
    process.once("SIGINT", () => resolve("SIGINT"));
  });
  logger.info({ signal }, "stopping: no new requests, draining");
  systemd.stopping(`draining (${signal})`);
  // A second signal, or a drain that hangs, ends the process anyway; the store keeps every purchase for the restart.
  const force = setTimeout(() => {
    logger.error("drain took too long; exiting");
    process.exit(ExitCode.software);
  }, bridgeShutdownTimeoutMs);
  force.unref();
  process.once("SIGTERM", () => process.exit(ExitCode.software));
  process.once("SIGINT", () => process.exit(ExitCode.software));
  await closeAll();
  clearTimeout(force);
  systemd.close();
  logger.info("stopped");
  return ExitCode.ok;
}

process.exitCode = await runCli("vend-bridge", [runCommand, ...bridgeToolCommands], process.argv.slice(2));
