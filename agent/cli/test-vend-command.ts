import type { AgentConfig } from "../../config/schema/agent.ts";
import { createVendMechanism } from "../../hardware/index.ts";
import { explainSerialError } from "../../hardware/serial/serial-errors.ts";
import type { SelectionRequest, VendMechanism } from "../../hardware/vend-mechanism.ts";
import type { CliCommand } from "../../platform/cli.ts";
import { parseCommandArgs, UsageError } from "../../platform/cli.ts";
import { ExitCode, type ExitCodeValue } from "../../platform/exit-codes.ts";
import { silentLogger } from "../../platform/logger.ts";
import { formatMinor } from "../../platform/money.ts";
import type { Output } from "../../platform/terminal.ts";
import { loadAgentConfig } from "./agent-config.ts";
import { systemProbes } from "./doctor-probes.ts";
import { withTimeout } from "./with-timeout.ts";

const usage = "test-vend <selection> --yes [--timeout-ms N] [--config FILE] [--json]";

export interface TestVendArgs {
  selection: string;
  timeoutMs: number;
  json: boolean;
  config?: string;
  secretsDir?: string;
}

/** Pure: argv -> what to do. Without --yes nothing moves: a test vend drops a real product for free. */
export function parseTestVendArgs(argv: string[]): TestVendArgs {
  const { values, positionals } = parseCommandArgs(argv, {
    yes: { type: "boolean", default: false },
    "timeout-ms": { type: "string" },
  });
  const [selection, extra] = positionals;
  if (selection === undefined) throw new UsageError("which selection? e.g. `vend-agent test-vend A1 --yes`");
  if (extra !== undefined) throw new UsageError(`unexpected argument '${extra}'`);
  if (!values.yes) {
    throw new UsageError(
      `this dispenses selection ${selection} for real, without payment: add --yes to confirm (stand by the machine)`,
    );
  }
  const timeoutMs = values["timeout-ms"] === undefined ? 60_000 : Number(values["timeout-ms"]);
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0)
    throw new UsageError("--timeout-ms must be a positive whole number");
  return {
    selection,
    timeoutMs,
    json: values.json,
    ...(values.config === undefined ? {} : { config: values.config }),
    ...(values["secrets-dir"] === undefined ? {} : { secretsDir: values["secrets-dir"] }),
  };
}

export interface TestVendDeps {
  createMechanism(config: AgentConfig): VendMechanism;
  /** Whether the vend-agent service is running; GPIO has no port lock, so this is what keeps two drivers apart. */
  agentRunning(): Promise<boolean | undefined>;
}

export interface TestVendStep {
  step: string;
  ok: boolean;
  detail: string;
  atMs: number;
}

/**
 * Drives the vend mechanism through one paid-for-nothing vend: start (opens the port: refused while the agent holds
 * it), open a session for exactly the product's price, select, vend, close, stop. Every step is reported as it happens.
 */
export async function runTestVend(
  config: AgentConfig,
  args: TestVendArgs,
  deps: TestVendDeps,
  report: (step: TestVendStep) => void,
): Promise<ExitCodeValue> {
  const started = performance.now();
  const say = (step: string, ok: boolean, detail: string) =>
    report({ step, ok, detail, atMs: Math.round(performance.now() - started) });
  const product = config.catalog.products[args.selection];
  if (!product) {
    say(
      "catalog",
      false,
      `selection ${args.selection} is not in the catalog (${Object.keys(config.catalog.products).join(", ")})`,
    );
    return ExitCode.usage;
  }
  if (await deps.agentRunning()) {
    say(
      "agent",
      false,
      "the vend-agent service is running and drives this hardware: stop it first (sudo systemctl stop vend-agent)",
    );
    return ExitCode.unavailable;
  }
  const price = `${formatMinor(product.priceMinor, config.catalog.currency)} ${config.catalog.currency}`;
  const mechanism = deps.createMechanism(config);
  let stopping = false;
  // A link going down while we stop the mechanism is expected, not a failure.
  mechanism.on("link", (state, detail) =>
    say("link", state === "up" || stopping, `link ${state}${detail ? `: ${detail}` : ""}`),
  );
  mechanism.on("fault", (fault) => say("fault", !fault.outOfService, `${fault.code}: ${fault.message}`));
  const serialPath = "serial" in config.hardware ? config.hardware.serial.path : undefined;
  try {
    say("start", true, `starting the ${config.hardware.driver} mechanism${serialPath ? ` on ${serialPath}` : ""}`);
    // The drivers retry a failed open forever (right for the daemon); a technician wants the first reason at once.
    let onStartFault: ((fault: { code: string; message: string }) => void) | undefined;
    const firstFault = new Promise<never>((_, reject) => {
      onStartFault = (fault) => reject(new Error(fault.message));
      mechanism.on("fault", onStartFault);
    });
    try {
      await withTimeout(Promise.race([mechanism.start(), firstFault]), args.timeoutMs, "the mechanism did not come up");
    } catch (error) {
      const message = serialPath ? explainSerialError(error, serialPath).message : (error as Error).message;
      say("start", false, message);
      return ExitCode.unavailable;
    } finally {
      if (onStartFault) mechanism.off("fault", onStartFault);
      firstFault.catch(() => {});
    }
    say("start", true, "mechanism up");
    await mechanism.openSession(product.priceMinor);
    say("session", true, `session open with ${price} (the price of ${args.selection}, ${product.name})`);
    const selected = new Promise<SelectionRequest>((resolve) => {
      const onSelection = (request: SelectionRequest) => {
        if (request.selection !== args.selection) {
          say("select", false, `selection ${request.selection} made on the machine; waiting for ${args.selection}`);
          void mechanism.deny(request.selection, "test-vend of another selection");
          return;
        }
        mechanism.off("selection", onSelection);
        resolve(request);
      };
      mechanism.on("selection", onSelection);
    });
    mechanism.requestSelection(args.selection);
    if (config.hardware.driver === "mdb")
      say("select", true, `press ${args.selection} on the machine's keypad (the VMC asks for MDB vends)`);
    const request = await withTimeout(
      selected,
      args.timeoutMs,
      `no selection of ${args.selection} within ${args.timeoutMs} ms`,
    );
    say(
      "select",
      true,
      `selection ${request.selection}${request.priceMinor === undefined ? "" : ` at ${request.priceMinor} minor units`}`,
    );
    const outcome = await mechanism.vend(args.selection, product.priceMinor, request.requestId);
    const delivered = outcome.outcome === "delivered";
    say(
      "vend",
      delivered,
      `${outcome.outcome} (evidence: ${outcome.evidence})${"detail" in outcome && outcome.detail ? `: ${outcome.detail}` : ""}`,
    );
    await mechanism.closeSession();
    say("session", true, "session closed");
    return delivered ? ExitCode.ok : ExitCode.failure;
  } catch (error) {
    say("error", false, (error as Error).message);
    await mechanism.closeSession().catch(() => {});
    return ExitCode.failure;
  } finally {
    stopping = true;
    await mechanism.stop().catch(() => {});
    say("stop", true, "mechanism stopped, port released");
  }
}

function printStep(out: Output, step: TestVendStep): void {
  out.line(
    `${String(step.atMs).padStart(6)} ms  [${step.ok ? out.ok("ok  ") : out.bad("FAIL")}] ${step.step.padEnd(7)} ${step.detail}`,
  );
}

/** `vend-agent test-vend <selection> --yes`: one vend without payment, to test a slot after loading or repair. */
export function testVendCommand(deps?: Partial<TestVendDeps>): CliCommand {
  return {
    name: "test-vend",
    summary: "vend one selection without payment (needs --yes; refused while the agent holds the hardware)",
    usage,
    run: async ({ argv, out, env }) => {
      const args = parseTestVendArgs(argv);
      const loaded = loadAgentConfig({ config: args.config, "secrets-dir": args.secretsDir }, env, out);
      if (!loaded.ok) return loaded.exitCode;
      const steps: TestVendStep[] = [];
      const code = await runTestVend(
        loaded.config,
        args,
        {
          createMechanism:
            deps?.createMechanism ??
            ((config) => createVendMechanism(config.hardware, config.catalog, { logger: silentLogger() })),
          agentRunning: deps?.agentRunning ?? (() => systemProbes().agentRunning()),
        },
        (step) => {
          steps.push(step);
          if (!args.json) printStep(out, step);
        },
      );
      if (args.json) out.json({ ok: code === ExitCode.ok, selection: args.selection, steps });
      return code;
    },
  };
}
