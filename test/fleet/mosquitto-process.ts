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

  private constructor(port: number) {
    this.port = port;
    this.#dir = mkdtempSync(join(tmpdir(), "mosquitto-"));
    writeFileSync(
      join(this.#dir, "mosquitto.conf"),
      [`listener ${port} 127.0.0.1`, "allow_anonymous true", "persistence false", "log_type error", ""].join("\n"),
    );
  }

  static async start(): Promise<MosquittoProcess> {
    const broker = new MosquittoProcess(await freePort());
    await broker.start();
    return broker;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** Starts the broker and resolves once it accepts connections (20 s deadline). */
  async start(): Promise<void> {
    if (this.#child) throw new Error("mosquitto is already running");
    const child = spawn("mosquitto", ["-c", join(this.#dir, "mosquitto.conf")], { stdio: "ignore" });
    this.#child = child;
    const deadline = Date.now() + 20_000;
    while (!(await canConnect("127.0.0.1", this.port, 500))) {
      if (child.exitCode !== null) throw new Error(`mosquitto exited with ${child.exitCode}`);
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

async function freePort(): Promise<number> {
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
