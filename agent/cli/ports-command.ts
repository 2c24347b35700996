import { listSerialPorts, type SerialPortEntry } from "../../hardware/serial/port-listing.ts";
import {
  type ProbeOptions,
  type ProbeProtocol,
  type ProbeResult,
  probePort,
} from "../../hardware/serial/probe-port.ts";
import type { CliCommand } from "../../platform/cli.ts";
import { parseCommandArgs, UsageError } from "../../platform/cli.ts";
import { ExitCode } from "../../platform/exit-codes.ts";

const usage = "ports [list] | ports probe <path> [--protocol none|qibixx|fafb] [--baud N] [--json]";

export interface PortsTools {
  listSerialPorts(): Promise<SerialPortEntry[]>;
  probePort(path: string, options: ProbeOptions): Promise<ProbeResult>;
}

const protocols: readonly ProbeProtocol[] = ["none", "qibixx", "fafb"];

export interface PortsArgs {
  action: "list" | "probe";
  path?: string;
  protocol: ProbeProtocol;
  baudRate?: number;
  json: boolean;
}

/** Pure: argv -> what to do. Throws UsageError (exit 2) for anything else. */
export function parsePortsArgs(argv: string[]): PortsArgs {
  const { values, positionals } = parseCommandArgs(argv, {
    protocol: { type: "string", default: "none" },
    baud: { type: "string" },
  });
  const [action = "list", path, extra] = positionals;
  if (action !== "list" && action !== "probe") throw new UsageError(`unknown subcommand '${action}'`);
  if (action === "list" && path !== undefined) throw new UsageError(`unexpected argument '${path}'`);
  if (action === "probe" && path === undefined) throw new UsageError("probe needs the port's path");
  if (extra !== undefined) throw new UsageError(`unexpected argument '${extra}'`);
  if (!protocols.includes(values.protocol as ProbeProtocol))
    throw new UsageError(`--protocol must be one of ${protocols.join(", ")}`);
  let baudRate: number | undefined;
  if (values.baud !== undefined) {
    baudRate = Number(values.baud);
    if (!Number.isInteger(baudRate) || baudRate <= 0) throw new UsageError("--baud must be a positive whole number");
  }
  return {
    action,
    ...(path === undefined ? {} : { path }),
    protocol: values.protocol as ProbeProtocol,
    ...(baudRate === undefined ? {} : { baudRate }),
    json: values.json,
  };
}

/** `vend-agent ports`: the serial ports present (works without udev) and a probe of one of them. */
export function portsCommand(tools: PortsTools = { listSerialPorts: () => listSerialPorts(), probePort }): CliCommand {
  return {
    name: "ports",
    summary:
      "list serial ports (with their stable /dev/serial/by-id names), or probe one: open, handshake, explain errors",
    usage,
    run: async ({ argv, out }) => {
      const args = parsePortsArgs(argv);
      if (args.action === "list") {
        const ports = await tools.listSerialPorts();
        if (args.json) out.json(ports);
        else if (ports.length === 0)
          out.line("no serial ports found (is the adapter plugged in? `dmesg | tail` shows what the kernel saw)");
        else {
          for (const port of ports) {
            const about = [
              port.manufacturer,
              port.serialNumber && `serial ${port.serialNumber}`,
              port.vendorId && `${port.vendorId}:${port.productId ?? "?"}`,
            ]
              .filter(Boolean)
              .join(", ");
            out.line(`${port.path}${about ? `  ${about}` : ""}`);
            for (const link of port.links) out.line(`  ${out.dim("<-")} ${link}`);
          }
          out.line(
            out.dim(
              "Use a /dev/serial/by-id/... link in hardware.serial.path: it does not change when USB re-enumerates.",
            ),
          );
        }
        return ExitCode.ok;
      }
      const result = await tools.probePort(args.path as string, {
        protocol: args.protocol,
        ...(args.baudRate === undefined ? {} : { baudRate: args.baudRate }),
      });
      if (args.json) out.json(result);
      else out.line(`[${result.ok ? out.ok("ok  ") : out.bad("FAIL")}] ${result.message}`);
      return result.ok ? ExitCode.ok : ExitCode.failure;
    },
  };
}
