import type { CliCommand } from "../../platform/cli.ts";
import { parseCommandArgs, UsageError } from "../../platform/cli.ts";
import { ExitCode } from "../../platform/exit-codes.ts";
import { loadAgentConfig } from "./agent-config.ts";
import { type MqttCheckOptions, type MqttCheckReport, runMqttCheck } from "./mqtt-check.ts";

const usage = "mqtt check [--config FILE] [--client-id ID] [--timeout-ms N] [--json]";

/** `vend-agent mqtt check`: connect, auth, subscribe to its commands, ping round trip; reasons verbatim. */
export function mqttCommand(check: (options: MqttCheckOptions) => Promise<MqttCheckReport> = runMqttCheck): CliCommand {
  return {
    name: "mqtt",
    summary: "check the broker link with the agent's settings: connect, auth, subscribe, round-trip latency",
    usage,
    run: async ({ argv, out, env }) => {
      const { values, positionals } = parseCommandArgs(argv, {
        "client-id": { type: "string" },
        "timeout-ms": { type: "string" },
      });
      if (positionals[0] === undefined) throw new UsageError("missing subcommand: check");
      if (positionals[0] !== "check")
        throw new UsageError(`unknown subcommand '${positionals[0]}' (the only one is check)`);
      if (positionals.length > 1) throw new UsageError(`unexpected argument '${positionals[1]}'`);
      const timeoutMs = values["timeout-ms"] === undefined ? 10_000 : Number(values["timeout-ms"]);
      if (!Number.isInteger(timeoutMs) || timeoutMs <= 0)
        throw new UsageError("--timeout-ms must be a positive whole number");
      const loaded = loadAgentConfig(values, env, out);
      if (!loaded.ok) return loaded.exitCode;
      const { config } = loaded;
      const report = await check({
        mqtt: config.mqtt,
        machineId: config.machine.id,
        timeoutMs,
        ...(values["client-id"] ? { clientId: values["client-id"] } : {}),
      });
      if (values.json) out.json(report);
      else {
        out.line(`broker ${report.url} as ${report.username} (client id ${report.clientId})`);
        for (const step of report.steps) {
          const timing = step.ms === undefined ? "" : ` (${step.ms} ms)`;
          out.line(`[${step.ok ? out.ok("ok  ") : out.bad("FAIL")}] ${step.name.padEnd(10)} ${step.detail}${timing}`);
          if (step.verbatim) out.line(`       ${"".padEnd(10)} broker/TLS said: ${step.verbatim}`);
        }
        out.line(report.ok ? `ok: round trip ${report.latencyMs} ms` : out.bad("the broker link does not work"));
      }
      return report.ok ? ExitCode.ok : ExitCode.failure;
    },
  };
}
