import { loadOrReport } from "../../config/cli.ts";
import { type BridgeConfig, bridgeConfigSpec } from "../../config/schema/bridge.ts";
import type { CliContext } from "../../platform/cli.ts";
import { ExitCode, type ExitCodeValue } from "../../platform/exit-codes.ts";
import { createLogger } from "../../platform/logger.ts";
import { redactUrlCredentials } from "../../platform/redact.ts";
import { createSeqrClient } from "../seqr/seqr-client-factory.ts";
import type { SeqrSoapClient } from "../seqr/soap-client.ts";
import { openStore } from "../store/open-store.ts";
import type { Store } from "../store/store.ts";

/**
 * What an operator's command (`refund`, `report reconcile`) works with: the bridge's config, its store and a SEQR
 * client as the running bridge has them. A config or store problem is reported here and becomes the exit code.
 */
export interface OperatorSession {
  config: BridgeConfig;
  store: Store;
  seqr: SeqrSoapClient;
}

export async function withOperatorSession(
  context: Pick<CliContext, "out" | "env">,
  options: { config?: string | undefined; secretsDir?: string | undefined },
  work: (session: OperatorSession) => Promise<ExitCodeValue>,
): Promise<ExitCodeValue> {
  const { out, env } = context;
  const loaded = loadOrReport(
    bridgeConfigSpec,
    { configFile: options.config, secretsDir: options.secretsDir, env },
    out,
  );
  if (!loaded.ok) return loaded.exitCode;
  const { config } = loaded;
  let store: Store;
  try {
    ({ store } = await openStore(config.store.url));
  } catch (error) {
    out.error(`cannot open the store ${redactUrlCredentials(config.store.url)}: ${(error as Error).message}`);
    return ExitCode.unavailable;
  }
  // Warnings only, on stderr: the command's own output (and its --json) stays on stdout.
  const logger = createLogger({ name: "vend-bridge", level: "warn", destination: process.stderr });
  const seqr = createSeqrClient(config.seqr, { logger });
  try {
    return await work({ config, store, seqr });
  } finally {
    seqr.close();
    await store.close();
  }
}
