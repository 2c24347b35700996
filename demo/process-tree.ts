import { type ChildProcess, spawn } from "node:child_process";
import { EventEmitter } from "node:events";
import { createInterface } from "node:readline";

/**
 * The demo's children (bridge, agents) as one process tree: their JSON log lines become `log` events (for the flow
 * feed on the demo page), and stop() ends them with SIGTERM (then SIGKILL after a grace period), the last started
 * first: the agents leave before the bridge and its broker, so none of them logs a lost broker as an error.
 *
 * Each child runs in its own process group: a terminal's Ctrl-C (SIGINT to the foreground group) reaches the demo
 * only, which then stops the children in that order. Should the demo die without stopping them, they are killed as it
 * exits.
 */
export interface LogLine {
  process: string;
  level: string;
  msg: string;
  time: number;
  fields: Record<string, unknown>;
}

export interface ProcessTreeEvents {
  log: [LogLine];
  exit: [{ process: string; code: number | null; signal: NodeJS.Signals | null }];
}

export class ProcessTree extends EventEmitter<ProcessTreeEvents> {
  private readonly children = new Map<string, ChildProcess>();
  private stopping = false;
  private readonly killOnExit = () => {
    for (const child of this.children.values()) child.kill("SIGKILL");
  };

  /** Starts `node --import tsx <entry> <args>` from the project root. */
  start(name: string, entry: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
    const child = spawn(process.execPath, ["--import", "tsx", entry, ...args], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    if (this.children.size === 0) process.once("exit", this.killOnExit);
    this.children.set(name, child);
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on("line", (line) => this.emit("log", parseLine(name, line)));
    }
    child.once("exit", (code, signal) => {
      this.children.delete(name);
      if (!this.stopping) this.emit("exit", { process: name, code, signal });
    });
    return child;
  }

  async stop(graceMs = 10_000): Promise<void> {
    this.stopping = true;
    const [first, ...later] = [...this.children.values()];
    // The later ones (agents) together, then the first (the bridge with the broker they are connected to).
    await Promise.all(later.map((child) => stopChild(child, graceMs)));
    if (first) await stopChild(first, graceMs);
    process.off("exit", this.killOnExit);
  }
}

function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

function parseLine(process: string, line: string): LogLine {
  try {
    const record = JSON.parse(line) as Record<string, unknown>;
    const { level, msg, time, pid: _pid, hostname: _hostname, name: _name, ...fields } = record;
    return {
      process,
      level: typeof level === "string" ? level : "info",
      msg: typeof msg === "string" ? msg : "",
      time: typeof time === "string" ? Date.parse(time) : Date.now(),
      fields,
    };
  } catch {
    return { process, level: "info", msg: line, time: Date.now(), fields: {} };
  }
}
