import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A pseudo-terminal pair from socat: two /dev/pts devices wired back to back, so the real serialport binding can be
 * driven with a simulator on the other end. socat also makes stable symlinks (like /dev/serial/by-id/...), and
 * `unplug()` + `replug()` (kill socat, start it again) make the host's device vanish and return under the same
 * name, the way a USB adapter does.
 */
export class SocatPtyPair {
  /** Stable path of the host's end (give it to the driver). */
  readonly hostPath: string;
  /** Stable path of the device's end (give it to the simulator). */
  readonly devicePath: string;
  readonly #dir: string;
  #child: ChildProcess | undefined;
  /** The /dev/pts names socat reported, for logs. */
  ptys: string[] = [];

  constructor() {
    this.#dir = mkdtempSync(join(tmpdir(), "seqr-pty-"));
    this.hostPath = join(this.#dir, "host");
    this.devicePath = join(this.#dir, "device");
  }

  static async open(): Promise<SocatPtyPair> {
    const pair = new SocatPtyPair();
    await pair.replug();
    return pair;
  }

  /** Starts socat and resolves when both ptys exist (read from its `-d -d` notices on stderr). */
  replug(): Promise<void> {
    if (this.#child) return Promise.resolve();
    const child = spawn(
      "socat",
      ["-d", "-d", `pty,raw,echo=0,link=${this.hostPath}`, `pty,raw,echo=0,link=${this.devicePath}`],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    this.#child = child;
    return new Promise((resolve, reject) => {
      let stderr = "";
      const ptys: string[] = [];
      const timer = setTimeout(() => reject(new Error(`socat did not start: ${stderr}`)), 5_000);
      child.stderr?.setEncoding("utf8");
      child.stderr?.on("data", (text: string) => {
        stderr += text;
        for (const match of text.matchAll(/PTY is (\/dev\/pts\/\d+)/g)) if (match[1]) ptys.push(match[1]);
        if (/starting data transfer loop/.test(stderr)) {
          clearTimeout(timer);
          this.ptys = ptys;
          resolve();
        }
      });
      child.once("error", (error) => {
        clearTimeout(timer);
        reject(error);
      });
      child.once("exit", () => {
        if (this.#child === child) this.#child = undefined;
      });
    });
  }

  /** Kills socat: both ptys disappear, readers get EIO, the links vanish. */
  unplug(): Promise<void> {
    const child = this.#child;
    if (!child) return Promise.resolve();
    this.#child = undefined;
    return new Promise((resolve) => {
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
    });
  }

  async close(): Promise<void> {
    await this.unplug();
    rmSync(this.#dir, { recursive: true, force: true });
  }
}
