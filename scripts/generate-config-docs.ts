import { writeFileSync } from "node:fs";
import { configReference } from "../config/cli.ts";
import { agentConfigSpec } from "../config/schema/agent.ts";
import { bridgeConfigSpec } from "../config/schema/bridge.ts";

/** Writes docs/config-agent.md and docs/config-bridge.md from the zod schemas (`npm run docs:config`). */
export function configDocs(): Record<string, string> {
  const page = (title: string, program: string, table: string) =>
    `# ${title}\n\nGenerated from the zod schema by \`npm run docs:config\`; do not edit by hand. ` +
    `\`${program} config reference\` prints the same table.\n\n${table}\n`;
  return {
    "docs/config-agent.md": page("vend-agent configuration keys", "vend-agent", configReference(agentConfigSpec)),
    "docs/config-bridge.md": page("vend-bridge configuration keys", "vend-bridge", configReference(bridgeConfigSpec)),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const [file, content] of Object.entries(configDocs())) writeFileSync(file, content);
}
