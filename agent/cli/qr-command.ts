import type { CliCommand } from "../../platform/cli.ts";
import { parseCommandArgs, UsageError } from "../../platform/cli.ts";
import { ExitCode } from "../../platform/exit-codes.ts";
import { createQrMatrix, seqrQrPayload } from "../display/qr.ts";
import { describeScreen } from "../display/screens.ts";
import { writeStickerFiles } from "../display/sticker.ts";
import { terminalScreenText } from "../display/terminal.ts";
import { loadAgentConfig } from "./agent-config.ts";

const usage = "qr [--url] [--png FILE] [--svg FILE] [--invert] [--config FILE] [--json]";

/**
 * `vend-agent qr`: the machine's SEQR QR on the terminal (what the customer's screen shows), or exported as PNG/SVG
 * sticker files, or just the encoded string (`--url`) to compare with what the backend expects.
 */
export const qrCommand: CliCommand = {
  name: "qr",
  summary: "show the machine's SEQR QR on the terminal, print what it encodes (--url), or export --png/--svg stickers",
  usage,
  run: ({ argv, out, env }) => {
    const { values, positionals } = parseCommandArgs(argv, {
      url: { type: "boolean", default: false },
      png: { type: "string" },
      svg: { type: "string" },
      invert: { type: "boolean", default: false },
    });
    if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
    const loaded = loadAgentConfig(values, env, out);
    if (!loaded.ok) return loaded.exitCode;
    const { machine, display } = loaded.config;
    const payload = seqrQrPayload(machine.merchantId, machine.id);
    const matrix = createQrMatrix(payload);
    if (values.png || values.svg) {
      try {
        writeStickerFiles(
          {
            payload,
            caption: display.idleText,
            machineLabel: machine.name ? `${machine.name} - ${machine.id}` : machine.id,
          },
          { ...(values.png ? { png: values.png } : {}), ...(values.svg ? { svg: values.svg } : {}) },
        );
      } catch (error) {
        out.error(`vend-agent qr: cannot write the sticker: ${(error as Error).message}`);
        return ExitCode.failure;
      }
    }
    const files = [values.png, values.svg].filter((file): file is string => Boolean(file));
    if (values.json) {
      out.json({ payload, version: matrix.version, size: matrix.size, errorCorrection: matrix.errorCorrection, files });
      return ExitCode.ok;
    }
    if (values.url) {
      out.line(payload);
      return ExitCode.ok;
    }
    if (files.length > 0) {
      for (const file of files) out.line(`wrote ${file}`);
      out.line(`encodes ${payload} (QR version ${matrix.version}, error correction ${matrix.errorCorrection})`);
      return ExitCode.ok;
    }
    const screen = describeScreen(
      { screen: "idle" },
      { machine, catalog: loaded.config.catalog, idleText: display.idleText, now: Date.now() },
    );
    out.line(
      terminalScreenText(screen, {
        color: out.color,
        invert: values.invert,
        now: Date.now(),
        qrFor: () => matrix,
      }).trimEnd(),
    );
    out.line(out.dim(payload));
    return ExitCode.ok;
  },
};
