import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { type CliCommand, parseCommandArgs, UsageError } from "../../platform/cli.ts";
import { ExitCode } from "../../platform/exit-codes.ts";
import { createLogger } from "../../platform/logger.ts";
import { type SandboxOptionsInput, sandboxOptionsSchema } from "./sandbox-options.ts";
import { startSeqrSandbox } from "./seqr-sandbox.ts";

/**
 * `vend-bridge sandbox`: runs the SEQR sandbox as a process until SIGINT/SIGTERM and prints where everything is.
 * --config takes a YAML/JSON file with the sandbox's options (terminals, customers, ups.createPurchaseUrl ...);
 * the flags override it.
 */
export const sandboxCommand: CliCommand = {
  name: "sandbox",
  summary: "run the SEQR sandbox (SOAP API, UPS caller, customer app) for development and demos",
  usage:
    "sandbox [--port N] [--host ADDR] [--create-purchase-url URL] [--ack-deadline-ms N] [--config sandbox.yaml] [--json]",
  run: async ({ argv, out }) => {
    const { values } = parseCommandArgs(argv, {
      port: { type: "string" },
      host: { type: "string" },
      "create-purchase-url": { type: "string" },
      "ack-deadline-ms": { type: "string" },
    });
    let input: Record<string, unknown> = {};
    if (values.config) {
      try {
        input = (parseYaml(readFileSync(values.config, "utf8")) ?? {}) as Record<string, unknown>;
      } catch (error) {
        out.error(`sandbox: cannot read ${values.config}: ${(error as Error).message}`);
        return ExitCode.config;
      }
    }
    if (values.port !== undefined) input.port = integerFlag("--port", values.port);
    if (values.host !== undefined) input.host = values.host;
    if (values["ack-deadline-ms"] !== undefined) {
      input.ackDeadlineMs = integerFlag("--ack-deadline-ms", values["ack-deadline-ms"]);
    }
    if (values["create-purchase-url"] !== undefined) {
      input.ups = { ...((input.ups as object | undefined) ?? {}), createPurchaseUrl: values["create-purchase-url"] };
    }
    const checked = sandboxOptionsSchema.safeParse(input);
    if (!checked.success) {
      out.error(`sandbox: invalid options\n${z.prettifyError(checked.error)}`);
      return ExitCode.config;
    }

    // Logs go to stderr: stdout carries the summary (and must stay plain JSON with --json).
    const logger = createLogger({ name: "seqr-sandbox", level: "info", destination: process.stderr });
    let sandbox: Awaited<ReturnType<typeof startSeqrSandbox>>;
    try {
      sandbox = await startSeqrSandbox({ ...(input as SandboxOptionsInput), logger });
    } catch (error) {
      out.error(`sandbox: cannot start: ${(error as Error).message}`);
      return ExitCode.unavailable;
    }
    const { options } = sandbox;
    const summary = {
      url: sandbox.url,
      soapUrl: sandbox.soapUrl,
      appUrl: sandbox.appUrl,
      operatorApi: `${sandbox.url}/sandbox/api/`,
      terminals: options.terminals.map((terminal) => ({ id: terminal.id, currency: terminal.currency })),
      createPurchaseUrl: options.ups.createPurchaseUrl ?? null,
      ackDeadlineMs: options.ackDeadlineMs,
    };
    if (values.json) {
      out.json(summary);
    } else {
      out.line(`SEQR sandbox running (Ctrl-C stops it)`);
      out.line(`  SOAP endpoint   ${summary.soapUrl}`);
      out.line(`  customer app    ${summary.appUrl}`);
      out.line(`  operator API    ${summary.operatorApi}  (invoices, calls, notifications, ups, faults)`);
      out.line(
        `  terminals       ${summary.terminals.map((terminal) => `${terminal.id} (${terminal.currency})`).join(", ")}`,
      );
      out.line(`  createPurchase  ${summary.createPurchaseUrl ?? out.dim("not set: --create-purchase-url URL")}`);
    }
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    });
    await sandbox.close();
    return ExitCode.ok;
  },
};

function integerFlag(name: string, value: string): number {
  if (!/^\d+$/.test(value)) throw new UsageError(`${name} must be a whole number, got ${JSON.stringify(value)}`);
  return Number(value);
}
