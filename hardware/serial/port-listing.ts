import { accessSync, constants, readdirSync, readlinkSync, realpathSync } from "node:fs";
import { delimiter, join } from "node:path";
import type { Logger } from "../../platform/logger.ts";
import type { UdevPortInfo } from "./serial-types.ts";

export interface SerialPortEntry {
  /** The device node, e.g. /dev/ttyUSB0. */
  path: string;
  /** Stable names pointing at it (/dev/serial/by-id/..., /dev/serial0): what the config should use. */
  links: string[];
  manufacturer?: string;
  serialNumber?: string;
  vendorId?: string;
  productId?: string;
  /** Where the entry came from: udev (SerialPort.list) or our scan of /dev. */
  source: "udev" | "dev-scan";
}

export interface ListSerialPortsOptions {
  /** Root of the device tree; a temp dir in tests. */
  devRoot?: string;
  /** Whether udevadm can be run; by default PATH is searched (no spawn). */
  udevadmAvailable?: () => boolean;
  /** SerialPort.list(), injectable. */
  listWithUdev?: () => Promise<UdevPortInfo[]>;
  logger?: Logger;
}

const deviceNamePattern = /^(ttyUSB\d+|ttyACM\d+|ttyAMA\d+|serial[01])$/;

/** Searches PATH for an executable without spawning anything. */
export function commandOnPath(command: string, pathVariable = process.env.PATH ?? ""): boolean {
  for (const dir of pathVariable.split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

/**
 * Lists serial ports for the technician. SerialPort.list() on Linux spawns `udevadm info -e`; where udevadm is
 * missing (minimal images, containers) the spawn's unhandled 'error' event takes the whole process down, so it is
 * only called when udevadm is on PATH, and any failure falls back to scanning /dev. The /dev scan always runs too,
 * because it is what finds the stable by-id links and /dev/serial0.
 */
export async function listSerialPorts(options: ListSerialPortsOptions = {}): Promise<SerialPortEntry[]> {
  const devRoot = options.devRoot ?? "/dev";
  const scanned = scanDevTree(devRoot);
  const udevAvailable = (options.udevadmAvailable ?? (() => commandOnPath("udevadm")))();
  if (!udevAvailable) return scanned;
  let udevPorts: UdevPortInfo[];
  try {
    const list = options.listWithUdev ?? defaultUdevList;
    udevPorts = await list();
  } catch (error) {
    options.logger?.warn({ err: error }, "SerialPort.list() failed; using the /dev scan");
    return scanned;
  }
  const byPath = new Map(scanned.map((entry) => [entry.path, entry]));
  for (const port of udevPorts) {
    const existing = byPath.get(port.path);
    const entry: SerialPortEntry = {
      path: port.path,
      links: existing?.links ?? [],
      source: "udev",
      ...(port.manufacturer ? { manufacturer: port.manufacturer } : {}),
      ...(port.serialNumber ? { serialNumber: port.serialNumber } : {}),
      ...(port.vendorId ? { vendorId: port.vendorId } : {}),
      ...(port.productId ? { productId: port.productId } : {}),
    };
    if (port.pnpId) {
      const byId = join(devRoot, "serial", "by-id", port.pnpId);
      if (!entry.links.includes(byId)) entry.links.push(byId);
    }
    byPath.set(port.path, entry);
  }
  return [...byPath.values()].sort((a, b) => a.path.localeCompare(b.path));
}

async function defaultUdevList(): Promise<UdevPortInfo[]> {
  const { SerialPort } = await import("serialport");
  return SerialPort.list();
}

/** ttyUSB*, ttyACM*, ttyAMA*, serial0/1 and /dev/serial/by-id/*, resolved to device nodes. */
export function scanDevTree(devRoot: string): SerialPortEntry[] {
  const entries = new Map<string, SerialPortEntry>();
  const add = (device: string, link?: string) => {
    const entry = entries.get(device) ?? { path: device, links: [], source: "dev-scan" as const };
    if (link && !entry.links.includes(link)) entry.links.push(link);
    entries.set(device, entry);
  };
  for (const name of safeReaddir(devRoot)) {
    if (!deviceNamePattern.test(name)) continue;
    const full = join(devRoot, name);
    const target = resolveLink(full);
    if (target === undefined) continue; // dangling link
    if (target === full) add(full);
    else add(target, full);
  }
  const byIdDir = join(devRoot, "serial", "by-id");
  for (const name of safeReaddir(byIdDir)) {
    const link = join(byIdDir, name);
    const target = resolveLink(link);
    if (target !== undefined) add(target, link);
  }
  return [...entries.values()].sort((a, b) => a.path.localeCompare(b.path));
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function resolveLink(path: string): string | undefined {
  try {
    readlinkSync(path);
  } catch {
    return path; // not a link (or unreadable): the node itself
  }
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
}
