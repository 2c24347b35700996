import type { BridgeConfig } from "../../config/schema/bridge.ts";
import type { CliContext } from "../../platform/cli.ts";
import type { ExitCodeValue } from "../../platform/exit-codes.ts";
import { createLogger } from "../../platform/logger.ts";
import { createSeqrClient } from "../seqr/seqr-client-factory.ts";
import type { SeqrSoapClient } from "../seqr/soap-client.ts";
import type { Store } from "../store/store.ts";
import { withOperatorStore } from "./operator-store.ts";

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
  return withOperatorStore(
    context,
    { config: options.config, "secrets-dir": options.secretsDir },
    async (store, config) => {
      // Warnings only, on stderr: the command's own output (and its --json) stays on stdout.
      const logger = createLogger({ name: "vend-bridge", level: "warn", destination: process.stderr });
      const seqr = createSeqrClient(config.seqr, { logger });
      try {
        return await work({ config, store, seqr });
      } finally {
        seqr.close();
      }
    },
  );
}
