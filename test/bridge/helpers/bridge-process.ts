import { type ChildProcess, spawn } from "node:child_process";
import { resolve } from "node:path";

/**
 * The real bridge as a child process (`node --import tsx backend-bridge/main.ts run --config FILE`), so that a test
 * can kill it with SIGKILL (no shutdown code runs, the store is left as the crash left it) and start it again.
 * /healthz is on the admin listener (loopback): unless the caller's env sets VEND_BRIDGE_ADMIN__PORT, each start
 * puts it on a free port through that variable, so config files need not know it.
 */

const root = resolve(import.meta.dirname, "../../..");

import { freePort } from "../../../platform/free-port.ts";

/** A child must be reachable at a port known before it starts. */
export { freePort };

export class BridgeProcess {
  readonly #child: ChildProcess;
  readonly #exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly #lines: string[] = [];
  /** GET /healthz on the admin listener. */
  readonly healthUrl: string;
  /** The public API (createPurchase, notifications). */
  readonly httpUrl: string;
  exitStatus: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  private constructor(configFile: string, httpPort: number, adminPort: number, env: NodeJS.ProcessEnv) {
    this.healthUrl = `http://127.0.0.1:${adminPort}/healthz`;
    this.httpUrl = `http://127.0.0.1:${httpPort}`;
    this.#child = spawn(
      process.execPath,
      ["--import", "tsx", resolve(root, "backend-bridge/main.ts"), "run", "--config", configFile],
      {
        cwd: root,
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          NO_COLOR: "1",
          VEND_BRIDGE_ADMIN__PORT: String(adminPort),
          ...env,
        },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    const keep = (chunk: Buffer) => {
      this.#lines.push(...chunk.toString().split("\n").filter(Boolean));
      if (this.#lines.length > 300) this.#lines.splice(0, this.#lines.length - 300);
    };
    this.#child.stdout?.on("data", keep);
    this.#child.stderr?.on("data", keep);
    this.#exited = new Promise((resolveExit) => {
      this.#child.once("exit", (code, signal) => {
        this.exitStatus = { code, signal };
        resolveExit({ code, signal });
      });
    });
  }

  /** Starts the bridge and waits until /healthz answers 200 and `ready` (if given) holds for its body. */
  static async start(
    configFile: string,
    httpPort: number,
    ready: (health: { machinesOnline: number }) => boolean = () => true,
    timeoutMs = 60_000,
    env: NodeJS.ProcessEnv = {},
  ): Promise<BridgeProcess> {
    const adminPort = Number(env.VEND_BRIDGE_ADMIN__PORT ?? (await freePort()));
    const bridge = new BridgeProcess(configFile, httpPort, adminPort, env);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (bridge.exitStatus) throw new Error(`the bridge exited while starting\n${bridge.output()}`);
      try {
        const response = await fetch(bridge.healthUrl, { signal: AbortSignal.timeout(1_000) });
        if (response.status === 200 && ready((await response.json()) as { machinesOnline: number })) return bridge;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        await bridge.kill();
        throw new Error(`the bridge did not become healthy in ${timeoutMs} ms\n${bridge.output()}`);
      }
      await new Promise((wait) => setTimeout(wait, 100));
    }
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** SIGKILL: the process dies at once, mid-whatever, like a power cut of the server process. */
  async kill(): Promise<void> {
    if (!this.exitStatus) this.#child.kill("SIGKILL");
    await this.#exited;
  }

  /** SIGTERM (graceful), SIGKILL after `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    if (this.exitStatus) return;
    this.#child.kill("SIGTERM");
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), graceMs);
    await this.#exited;
    clearTimeout(timer);
  }

  /** The last lines the bridge logged (pino JSON), for failure messages. */
  output(): string {
    return this.#lines.join("\n");
  }
}
