import { realpathSync } from "node:fs";
import type { Duplex } from "node:stream";
import { LineFramer } from "../mdb/line-framer.ts";
import { encodeAdapterCommand, parseAdapterLine } from "../mdb/qibixx-codec.ts";
import { fafbCommand } from "../spiral/fafb-commands.ts";
import { FafbFrameReader } from "../spiral/fafb-frame.ts";
import { explainSerialError, type SerialErrorKind } from "./serial-errors.ts";
import type { SerialBinding } from "./serial-types.ts";
import { nativeSerialBinding, serialPortConnector } from "./stream-connector.ts";

export type ProbeProtocol = "none" | "qibixx" | "fafb";

export interface ProbeOptions {
  baudRate?: number;
  /** What to expect on the line: a Qibixx adapter answers `V` with `v,<version>`; a FA FB board polls by itself. */
  protocol?: ProbeProtocol;
  timeoutMs?: number;
  binding?: SerialBinding;
}

export interface ProbeResult {
  path: string;
  /** The device node the path points at (by-id links resolved). */
  device?: string;
  opened: boolean;
  /** True when the port opened and, if a protocol was asked for, the device answered in it. */
  ok: boolean;
  /** The device's own words, e.g. the adapter's version line. */
  identified?: string;
  errorKind?: SerialErrorKind | "no-answer";
  /** A sentence for the technician: what happened and how to fix it. */
  message: string;
}

const defaultBaud: Record<ProbeProtocol, number> = { none: 115200, qibixx: 115200, fafb: 57600 };

/**
 * Opens a port once, optionally checks the device speaks the expected protocol, closes it again, and explains any
 * failure (permission, lock held by the running agent, missing device). Never throws: the CLI prints the result.
 */
export async function probePort(path: string, options: ProbeOptions = {}): Promise<ProbeResult> {
  const protocol = options.protocol ?? "none";
  const device = resolveDevice(path);
  let stream: Duplex;
  try {
    const binding = options.binding ?? (await nativeSerialBinding());
    stream = await serialPortConnector({ path, baudRate: options.baudRate ?? defaultBaud[protocol], binding })();
  } catch (error) {
    const explained = explainSerialError(error, path);
    return {
      path,
      ...(device ? { device } : {}),
      opened: false,
      ok: false,
      errorKind: explained.kind,
      message: explained.message,
    };
  }
  try {
    if (protocol === "none")
      return { path, ...(device ? { device } : {}), opened: true, ok: true, message: `${path} opens` };
    const identified = await waitForAnswer(stream, protocol, options.timeoutMs ?? 1_500);
    if (identified === undefined) {
      return {
        path,
        ...(device ? { device } : {}),
        opened: true,
        ok: false,
        errorKind: "no-answer",
        message:
          protocol === "qibixx"
            ? `${path} opens but no MDB adapter answered 'V' (wrong port or baud rate, or the adapter is unpowered)`
            : `${path} opens but no spiral board polled within the timeout (wrong port, baud rate or wiring)`,
      };
    }
    return {
      path,
      ...(device ? { device } : {}),
      opened: true,
      ok: true,
      identified,
      message: `${path}: ${identified}`,
    };
  } finally {
    await new Promise<void>((resolve) => {
      const closable = stream as Duplex & { close?: (cb: () => void) => void };
      if (closable.close) closable.close(() => resolve());
      else {
        stream.destroy();
        resolve();
      }
    });
  }
}

function resolveDevice(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
}

function waitForAnswer(stream: Duplex, protocol: "qibixx" | "fafb", timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const lines = new LineFramer();
    const frames = new FafbFrameReader();
    const finish = (value: string | undefined) => {
      clearTimeout(timer);
      stream.off("data", onData);
      resolve(value);
    };
    const onData = (chunk: Buffer) => {
      if (protocol === "qibixx") {
        for (const line of lines.push(chunk)) {
          const message = parseAdapterLine(line);
          if (message.kind === "version") finish(`MDB adapter, firmware ${message.version}`);
        }
      } else {
        for (const frame of frames.push(chunk)) {
          if (frame.command === fafbCommand.poll) finish("spiral board polling (FA FB protocol)");
        }
      }
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    stream.on("data", onData);
    if (protocol === "qibixx") stream.write(encodeAdapterCommand({ kind: "version" }));
  });
}
