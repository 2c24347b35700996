import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import YAML from "yaml";
import { bridgeToolCommands } from "../../../backend-bridge/cli/commands.ts";
import { runCli } from "../../../platform/cli.ts";
import { captureOutput } from "../../cli/capture-output.ts";
import { testOnlyInsecureChoices } from "../../helpers/bridge-test-config.ts";
import { type Kit, resellerUser, terminal } from "../../seqr/seqr-test-kit.ts";

/** Runs `vend-bridge <argv>` in-process with a config whose SEQR is the kit's sandbox and whose store is `storeUrl`. */
export async function runOperatorCli(
  kit: Kit,
  storeUrl: string,
  argv: string[],
  extraConfig: Record<string, unknown> = {},
): Promise<{ code: number; stdout: string; stderr: string; json: unknown }> {
  const dir = mkdtempSync(join(tmpdir(), "vend-bridge-operator-"));
  try {
    const file = join(dir, "bridge.yaml");
    writeFileSync(
      file,
      YAML.stringify({
        ...testOnlyInsecureChoices(),
        http: { plainHttp: true, publicBaseUrl: "http://127.0.0.1:1/seqr" },
        seqr: {
          endpointUrl: kit.sandbox.soapUrl,
          terminalId: terminal.id,
          password: terminal.password,
          resellerUser,
          requestTimeoutMs: 3_000,
        },
        store: { url: storeUrl },
        ...extraConfig,
      }),
    );
    const out = captureOutput();
    const code = await runCli("vend-bridge", bridgeToolCommands, [...argv, "--config", file], { out, env: {} });
    return { code, stdout: out.stdout, stderr: out.stderr, json: out.jsonValues.at(-1) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
