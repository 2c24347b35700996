import type { CliCommand } from "../../platform/cli.ts";
import { parseCommandArgs, UsageError } from "../../platform/cli.ts";
import { ExitCode } from "../../platform/exit-codes.ts";
import type { Output } from "../../platform/terminal.ts";
import { loadAgentConfig } from "./agent-config.ts";
import { type CheckResult, type DoctorProbes, doctorFailed, runDoctorChecks } from "./doctor-checks.ts";
import { systemProbes } from "./doctor-probes.ts";

const marks: Record<CheckResult["status"], string> = { ok: "ok  ", warn: "WARN", fail: "FAIL", skip: "skip" };

export function formatDoctorReport(results: readonly CheckResult[], out: Pick<Output, "ok" | "bad" | "dim">): string[] {
  const width = Math.max(...results.map((result) => result.title.length));
  const lines: string[] = [];
  for (const result of results) {
    const mark =
      result.status === "ok"
        ? out.ok(marks.ok)
        : result.status === "skip"
          ? out.dim(marks.skip)
          : out.bad(marks[result.status]);
    lines.push(`[${mark}] ${result.title.padEnd(width)}  ${result.detail}`);
    if (result.fix && (result.status === "fail" || result.status === "warn"))
      lines.push(`       ${" ".repeat(width)}  fix: ${result.fix}`);
  }
  const failed = results.filter((result) => result.status === "fail").length;
  const warned = results.filter((result) => result.status === "warn").length;
  lines.push(
    "",
    failed
      ? `${failed} check(s) failed, ${warned} warning(s)`
      : `all checks passed${warned ? `, ${warned} warning(s)` : ""}`,
  );
  return lines;
}

/** `vend-agent doctor`: all checks with the fix for each failure; the summary is meant to be pasted into a support ticket. */
export function doctorCommand(probes: () => DoctorProbes = systemProbes): CliCommand {
  return {
    name: "doctor",
    summary:
      "check everything the agent needs (config, data dir, disk, serial/GPIO, groups, clock, broker), with fixes",
    usage: "doctor [--config FILE] [--json]",
    run: async ({ argv, out, env }) => {
      const { values, positionals } = parseCommandArgs(argv, {});
      if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
      const loaded = loadAgentConfig(values, env, out);
      if (!loaded.ok) {
        if (values.json)
          out.json({
            ok: false,
            checks: [{ id: "config", status: "fail", detail: "invalid configuration (see stderr)" }],
          });
        return loaded.exitCode;
      }
      const results = await runDoctorChecks(loaded.config, probes());
      const failed = doctorFailed(results);
      if (values.json) out.json({ ok: !failed, machine: loaded.config.machine.id, checks: results });
      else {
        out.line(
          `vend-agent doctor: machine ${loaded.config.machine.id}, ${loaded.config.hardware.driver} hardware, node ${process.version}`,
        );
        for (const line of formatDoctorReport(results, out)) out.line(line);
      }
      return failed ? ExitCode.failure : ExitCode.ok;
    },
  };
}
