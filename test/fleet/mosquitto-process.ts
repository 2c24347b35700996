import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { canConnect } from "../helpers/system-tools.ts";

/**
 * A Mosquitto of the test's own, on a free port, that the test can kill and start again on the same port (a broker
 * restart, as an operator's external broker does). Anonymous and without persistence: a restart loses everything
 * retained and queued, the worst case for the bridge and the agents.
 */
export class MosquittoProcess {
  readonly port: number;
  readonly #dir: string;
  #child: ChildProcess | undefined;

  private constructor(port: number, config?: string) {
    this.port = port;
    this.#dir = mkdtempSync(join(tmpdir(), "mosquitto-"));
    writeFileSync(
      join(this.#dir, "mosquitto.conf"),
      config ??
        [`listener ${port} 127.0.0.1`, "allow_anonymous true", "persistence false", "log_type error", ""].join("\n"),
    );
  }

  /** Anonymous, no persistence, on a free port; or the given mosquitto.conf, whose first listener is `port`. */
  static async start(options: { port: number; config: string } | undefined = undefined): Promise<MosquittoProcess> {
    const broker = options
      ? new MosquittoProcess(options.port, options.config)
      : new MosquittoProcess(await freePort());
    await broker.start();
    return broker;
  }

  /** The process id while it runs (what Mosquitto's pid_file holds). */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** Starts the broker and resolves once it accepts connections (20 s deadline). */
  async start(): Promise<void> {
    if (this.#child) throw new Error("mosquitto is already running");
    const child = spawn("mosquitto", ["-c", join(this.#dir, "mosquitto.conf")], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    // Its own log (log_dest stderr) is kept for the error message when it does not start.
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-2_000);
    });
    this.#child = child;
    const deadline = Date.now() + 20_000;
    while (!(await canConnect("127.0.0.1", this.port, 500))) {
      if (child.exitCode !== null) throw new Error(`mosquitto exited with ${child.exitCode}: ${stderr}`);
      if (Date.now() > deadline) throw new Error(`mosquitto did not listen on ${this.port} within 20 s`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Kills the broker (SIGKILL: no will messages, no goodbye) and waits until it is gone. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#child = undefined;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGKILL");
      await exited;
    }
  }

  async close(): Promise<void> {
    await this.kill();
    rmSync(this.#dir, { recursive: true, force: true });
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}
