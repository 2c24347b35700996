import { type ChildProcess, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { canConnect } from "../helpers/system-tools.ts";

/**
 * The chaos test's own child processes besides the bridge (test/bridge/helpers/bridge-process.ts): the real agent
 * (`agent/main.ts run`, simulator hardware, kiosk screen on a port) and a Mosquitto started on a free port. Each can be
 * killed with SIGKILL, paused with SIGSTOP and resumed, and started again with the same files and ports.
 */

const root = resolve(import.meta.dirname, "../..");

type Exit = { code: number | null; signal: NodeJS.Signals | null };

/** A child process with its last output kept for failure messages. */
export class ChildService {
  readonly #child: ChildProcess;
  readonly #lines: string[] = [];
  readonly exited: Promise<Exit>;
  exitStatus: Exit | undefined;
  paused = false;

  constructor(command: string, args: string[], env: NodeJS.ProcessEnv = {}) {
    this.#child = spawn(command, args, {
      cwd: root,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: "1", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const keep = (chunk: Buffer) => {
      this.#lines.push(...chunk.toString().split("\n").filter(Boolean));
      if (this.#lines.length > 200) this.#lines.splice(0, this.#lines.length - 200);
    };
    this.#child.stdout?.on("data", keep);
    this.#child.stderr?.on("data", keep);
    this.exited = new Promise((resolveExit) => {
      this.#child.once("exit", (code, signal) => {
        this.exitStatus = { code, signal };
        resolveExit({ code, signal });
      });
    });
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  get alive(): boolean {
    return this.exitStatus === undefined;
  }

  /** SIGKILL: no shutdown code runs (a SIGSTOPped process dies too). */
  async kill(): Promise<void> {
    if (this.alive) this.#child.kill("SIGKILL");
    this.paused = false;
    await this.exited;
  }

  /** SIGTERM, SIGKILL after `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    if (!this.alive) return;
    if (this.paused) this.resume();
    this.#child.kill("SIGTERM");
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  pause(): void {
    if (this.alive && !this.paused) {
      this.#child.kill("SIGSTOP");
      this.paused = true;
    }
  }

  resume(): void {
    if (this.alive && this.paused) {
      this.#child.kill("SIGCONT");
      this.paused = false;
    }
  }

  output(): string {
    return this.#lines.join("\n");
  }
}

/** Polls `probe` until it is true; throws with `describe()` after `timeoutMs`. */
export async function pollUntil(
  what: string,
  probe: () => Promise<boolean> | boolean,
  timeoutMs: number,
  describe: () => string = () => "",
  intervalMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${describe()}`);
    await new Promise((wait) => setTimeout(wait, intervalMs));
  }
}

/** The real vend-agent with its kiosk screen on `kioskPort` (the workload's touch screen). */
export class AgentProcess extends ChildService {
  readonly kioskUrl: string;

  private constructor(configFile: string, kioskPort: number) {
    super(process.execPath, ["--import", "tsx", resolve(root, "agent/main.ts"), "run", "--config", configFile]);
    this.kioskUrl = `http://127.0.0.1:${kioskPort}`;
  }

  /** Starts the agent and waits until its kiosk page answers. */
  static async start(configFile: string, kioskPort: number, timeoutMs = 40_000): Promise<AgentProcess> {
    const agent = new AgentProcess(configFile, kioskPort);
    await pollUntil(
      `the agent's kiosk on port ${kioskPort}`,
      async () => {
        if (!agent.alive) throw new Error(`the agent exited while starting\n${agent.output()}`);
        return (await agent.screen()) !== undefined;
      },
      timeoutMs,
      () => agent.output(),
    );
    return agent;
  }

  /** The kiosk's current screen, undefined when the agent does not answer. */
  async screen(): Promise<KioskScreen | undefined> {
    try {
      const response = await fetch(`${this.kioskUrl}/screen`, { signal: AbortSignal.timeout(2_000) });
      if (response.status !== 200) return undefined;
      const body = (await response.json()) as { screen: KioskScreen | null };
      return body.screen ?? undefined;
    } catch {
      return undefined;
    }
  }

  /** A touch on the kiosk: a selection or Done. True when the agent took it (202). */
  async touch(action: { select: string } | "done"): Promise<boolean> {
    const path = action === "done" ? "/done" : "/select";
    const body = action === "done" ? {} : { selection: action.select };
    try {
      const response = await fetch(`${this.kioskUrl}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(2_000),
      });
      await response.body?.cancel();
      return response.status === 202;
    } catch {
      return false;
    }
  }
}

export interface KioskScreen {
  name: string;
  products?: Array<{ selection: string; priceMinor: number }>;
}

/** A Mosquitto of our own on `port` (persistence in `dir`), restartable on the same port. */
export class MosquittoProcess extends ChildService {
  readonly port: number;

  private constructor(configFile: string, port: number) {
    super("mosquitto", ["-c", configFile]);
    this.port = port;
  }

  static async start(dir: string, port: number, timeoutMs = 15_000): Promise<MosquittoProcess> {
    const configFile = join(dir, "mosquitto.conf");
    writeFileSync(
      configFile,
      [
        `listener ${port} 127.0.0.1`,
        "allow_anonymous true",
        // As root, Mosquitto would switch to a user that cannot write our directory.
        "user root",
        "persistence true",
        `persistence_location ${dir}/`,
        "max_keepalive 120",
        "",
      ].join("\n"),
    );
    const broker = new MosquittoProcess(configFile, port);
    await pollUntil(
      `Mosquitto on port ${port}`,
      async () => {
        if (!broker.alive) throw new Error(`mosquitto exited while starting\n${broker.output()}`);
        return canConnect("127.0.0.1", port, 500);
      },
      timeoutMs,
      () => broker.output(),
    );
    return broker;
  }
}
