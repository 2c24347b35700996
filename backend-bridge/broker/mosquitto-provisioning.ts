import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import type { BridgeConfig } from "../../config/schema/bridge.ts";
import { writeFileAtomic } from "./atomic-file.ts";
import { hashMachineSecret, needsRehash } from "./machine-secret.ts";
import { type MosquittoLogin, mosquittoAclFile, mosquittoPasswordFile } from "./mosquitto-files.ts";

/**
 * Provisioning of an external Mosquitto from the bridge's store (issue 17): both files written whole and atomically,
 * then Mosquitto told to reload them (SIGHUP to the pid in its pid file, or the operator's reload command). Run by
 * `vend-bridge machines add|rotate-password|remove` after the store changed, and by `machines export-mosquitto`.
 */

export type MosquittoSettings = NonNullable<Extract<BridgeConfig["broker"], { mode: "external" }>["mosquitto"]>;

export interface MachineHashes {
  passwordHashes(): Promise<{ machineId: string; passwordHash: string | undefined }[]>;
}

export interface MosquittoExport {
  /** Machines that can log in to Mosquitto after this export. */
  machines: string[];
  /** Machines left out, each with what the operator does about it. */
  skipped: { machineId: string; reason: string }[];
  /**
   * How Mosquitto was told ("SIGHUP to pid N", or the command run), or why it was not: not running (its pid file is
   * absent or names no process), in which case it reads the files when it starts.
   */
  reload: { done: true; how: string } | { done: false; why: string };
}

export class MosquittoProvisioningError extends Error {
  override name = "MosquittoProvisioningError";
}

/** The settings when the config says the broker is an external Mosquitto the bridge provisions; else undefined. */
export function mosquittoSettings(config: BridgeConfig): MosquittoSettings | undefined {
  return config.broker.mode === "external" ? config.broker.mosquitto : undefined;
}

export async function exportToMosquitto(options: {
  config: BridgeConfig;
  settings: MosquittoSettings;
  machines: MachineHashes;
}): Promise<MosquittoExport> {
  const { config, settings } = options;
  const bridgePassword = config.bridgeMqtt.password;
  if (bridgePassword === undefined) throw new MosquittoProvisioningError("bridgeMqtt.password is required");
  const logins: MosquittoLogin[] = [
    { username: config.bridgeMqtt.username, passwordHash: hashMachineSecret(bridgePassword) },
  ];
  const machines: string[] = [];
  const skipped: MosquittoExport["skipped"] = [];
  for (const { machineId, passwordHash } of await options.machines.passwordHashes()) {
    if (passwordHash === undefined) {
      skipped.push({
        machineId,
        reason: `no MQTT password: give it one with 'vend-bridge machines rotate-password ${machineId}'`,
      });
    } else if (needsRehash(passwordHash)) {
      // The older scrypt form cannot be turned into Mosquitto's without the secret, which the store does not keep.
      skipped.push({
        machineId,
        reason: `its password is stored in the older scrypt form, which Mosquitto cannot read: give it a new one with 'vend-bridge machines rotate-password ${machineId}'`,
      });
    } else {
      logins.push({ username: machineId, passwordHash });
      machines.push(machineId);
    }
  }
  const passwordText = mosquittoPasswordFile(logins);
  const aclText = mosquittoAclFile(config.bridgeMqtt.rootTopic, config.bridgeMqtt.username);
  for (const [file, text] of [
    [settings.passwordFile, passwordText],
    [settings.aclFile, aclText],
  ] as const) {
    try {
      writeFileAtomic(file, text);
    } catch (error) {
      throw new MosquittoProvisioningError(`cannot write ${file}: ${(error as Error).message}`);
    }
  }
  return { machines, skipped, reload: reloadMosquitto(settings) };
}

/** Asks Mosquitto to read its password and ACL files again; says how, or throws saying why it could not. */
export function reloadMosquitto(settings: MosquittoSettings): MosquittoExport["reload"] {
  if (settings.pidFile !== undefined) {
    let pid: number;
    try {
      pid = Number(readFileSync(settings.pidFile, "utf8").trim());
    } catch (error) {
      // Mosquitto removes its pid file when it stops: on a first install the files come before the broker.
      if ((error as NodeJS.ErrnoException).code === "ENOENT") {
        return {
          done: false,
          why: `Mosquitto is not running (no ${settings.pidFile}): it reads the files when it starts. If it does run, broker.mosquitto.pidFile is wrong and Mosquitto has NOT reloaded`,
        };
      }
      throw new MosquittoProvisioningError(
        `cannot read Mosquitto's pid file ${settings.pidFile}: ${(error as NodeJS.ErrnoException).code ?? String(error)} (is Mosquitto running, with pid_file ${settings.pidFile}?)`,
      );
    }
    if (!Number.isSafeInteger(pid) || pid <= 1) {
      throw new MosquittoProvisioningError(`Mosquitto's pid file ${settings.pidFile} holds no process id`);
    }
    try {
      process.kill(pid, "SIGHUP");
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ESRCH") {
        return {
          done: false,
          why: `Mosquitto is not running (no process ${pid}, from ${settings.pidFile}): it reads the files when it starts`,
        };
      }
      throw new MosquittoProvisioningError(
        `cannot signal Mosquitto (pid ${pid} from ${settings.pidFile}): ${code ?? String(error)} (run as root or as Mosquitto's user)`,
      );
    }
    return { done: true, how: `SIGHUP to pid ${pid}` };
  }
  const [command, ...args] = settings.reloadCommand ?? [];
  if (command === undefined) throw new MosquittoProvisioningError("broker.mosquitto needs pidFile or reloadCommand");
  const run = spawnSync(command, args, { encoding: "utf8", timeout: 30_000 });
  const shown = [command, ...args].join(" ");
  if (run.error) throw new MosquittoProvisioningError(`cannot run ${shown}: ${run.error.message}`);
  if (run.status !== 0) {
    throw new MosquittoProvisioningError(
      `${shown} exited with ${run.status ?? run.signal}: ${(run.stderr || run.stdout).trim().slice(0, 300)}`,
    );
  }
  return { done: true, how: shown };
}
