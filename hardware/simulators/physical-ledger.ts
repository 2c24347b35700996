import { closeSync, fdatasyncSync, openSync, readFileSync, writeSync } from "node:fs";

/**
 * The simulated machine's physical truth: one line per product that really fell into the delivery bin, written by the
 * simulator at the moment it falls, before the VMC or board reports anything. Crash, power-loss and chaos tests compare
 * what the bridge billed with this ledger: every billed vend must be here, and every line here must be billed or
 * flagged for reconciliation. The line is synced to disk before the simulator goes on, so a kill of the process right
 * after the drop cannot lose it (a real product does not un-drop when the computer dies).
 */

export interface PhysicalDrop {
  /** The catalog selection that dropped. */
  selection: string;
  /** Wall-clock ms when it dropped. */
  at: number;
}

export class PhysicalLedger {
  readonly #path: string;

  constructor(path: string) {
    this.#path = path;
  }

  get path(): string {
    return this.#path;
  }

  dropped(selection: string, at = Date.now()): void {
    const line = `${JSON.stringify({ t: "dropped", selection, at })}\n`;
    const fd = openSync(this.#path, "a");
    try {
      writeSync(fd, line);
      fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}

/** Reads a ledger file; a missing file is an empty ledger, a torn last line (a kill mid-write) is ignored. */
export function readPhysicalLedger(path: string): PhysicalDrop[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  const drops: PhysicalDrop[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    try {
      const parsed = JSON.parse(line) as { t?: unknown; selection?: unknown; at?: unknown };
      if (parsed.t === "dropped" && typeof parsed.selection === "string" && typeof parsed.at === "number") {
        drops.push({ selection: parsed.selection, at: parsed.at });
      }
    } catch {
      // a torn final line
    }
  }
  return drops;
}
