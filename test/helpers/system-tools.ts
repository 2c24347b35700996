import { spawnSync } from "node:child_process";
import { connect } from "node:net";

/**
 * Tests that need a system tool (socat, zbarimg, chromium, mosquitto_pub) or a service (PostgreSQL, Mosquitto) ask
 * here. Outside CI a missing one skips the suite and says so loudly; in CI (CI=true) it fails the run, because
 * .ci/run installs them all and a silent skip would hide a broken install.
 */

function missing(what: string, fix: string): false {
  const message = `${what} is not available: ${fix}`;
  if (process.env.CI) throw new Error(`CI requires it: ${message}`);
  console.warn(`\n*** SKIPPED: ${message} ***\n`);
  return false;
}

export function hasTool(command: string): boolean {
  const found = spawnSync("sh", ["-c", `command -v ${command}`], { encoding: "utf8" }).status === 0;
  return found || missing(`the system tool '${command}'`, "run `bash scripts/install-system-deps.sh` (as root)");
}

export function canConnect(host: string, port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

export async function hasService(name: string, host: string, port: number): Promise<boolean> {
  return (
    (await canConnect(host, port)) || missing(`${name} on ${host}:${port}`, "run `bash scripts/start-services.sh`")
  );
}

export const postgresUrl = process.env.TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
export const mosquittoUrl = process.env.TEST_MOSQUITTO_URL ?? "mqtt://127.0.0.1:1883";
