import { spawn } from "node:child_process";
import { resolve } from "node:path";

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

const root = resolve(import.meta.dirname, "../..");

export interface RunOptions {
  /**
   * Close our end of the child's stdout right away, as `| head -1` does once it has its line: every write the child
   * makes then fails with EPIPE.
   */
  closeStdout?: boolean;
}

/** Runs a program's sources (agent/main.ts, backend-bridge/main.ts) in a child Node with tsx, like a user would. */
export function runProgram(
  entry: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
  timeoutMs = 60_000,
  options: RunOptions = {},
): Promise<CliRun> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", resolve(root, entry), ...args], {
      cwd: root,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: "1", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    if (options.closeStdout) child.stdout.destroy();
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
    });
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${entry} ${args.join(" ")} did not finish in ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}
