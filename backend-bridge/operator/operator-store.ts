import { loadOrReport } from "../../config/cli.ts";
import { type BridgeConfig, bridgeConfigSpec } from "../../config/schema/bridge.ts";
import type { CliContext } from "../../platform/cli.ts";
import { ExitCode, type ExitCodeValue } from "../../platform/exit-codes.ts";
import { redactUrlCredentials } from "../../platform/redact.ts";
import { openStore } from "../store/open-store.ts";
import type { Store } from "../store/store.ts";

/**
 * Runs an operator command against the bridge's store: loads the config (a bad one is reported, exit 78), opens the
 * store it names (unreachable: exit 69), runs `work` and closes the store whatever happens.
 */
export async function withOperatorStore(
  context: Pick<CliContext, "out" | "env">,
  selection: { config?: string | undefined; "secrets-dir"?: string | undefined },
  work: (store: Store, config: BridgeConfig) => Promise<ExitCodeValue>,
): Promise<ExitCodeValue> {
  const loaded = loadOrReport(
    bridgeConfigSpec,
    { configFile: selection.config, secretsDir: selection["secrets-dir"], env: context.env },
    context.out,
  );
  if (!loaded.ok) return loaded.exitCode;
  let store: Store;
  try {
    ({ store } = await openStore(loaded.config.store.url));
  } catch (error) {
    context.out.error(
      `cannot open the store ${redactUrlCredentials(loaded.config.store.url)}: ${(error as Error).message}`,
    );
    return ExitCode.unavailable;
  }
  try {
    return await work(store, loaded.config);
  } finally {
    await store.close();
  }
}
