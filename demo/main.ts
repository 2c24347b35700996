import { readdirSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../config/load.ts";
import { agentConfigSpec } from "../config/schema/agent.ts";
import { bridgeConfigSpec } from "../config/schema/bridge.ts";

/** The one-command demo. Until the purchase flow exists, it checks the example configurations and says so. */
const examples = "config/examples";
let failures = 0;
for (const file of readdirSync(examples).sort()) {
  const options = { file: join(examples, file), env: {} };
  const result = file.startsWith("bridge")
    ? loadConfig(bridgeConfigSpec, options)
    : loadConfig(agentConfigSpec, options);
  console.log(`${result.ok ? "ok  " : "FAIL"} ${join(examples, file)}`);
  if (!result.ok) failures++;
}
console.log(
  "\nThe demo (bridge, SEQR sandbox and simulated machines) is not built yet; the example configurations were checked.",
);
process.exitCode = failures > 0 ? 1 : 0;
