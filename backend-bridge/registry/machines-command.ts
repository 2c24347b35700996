import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import YAML from "yaml";
import { loadOrReport } from "../../config/cli.ts";
import { tokenId } from "../../config/field.ts";
import { bridgeConfigSpec, machineEntry } from "../../config/schema/bridge.ts";
import { type CliCommand, type CliContext, parseCommandArgs, UsageError } from "../../platform/cli.ts";
import { systemClock } from "../../platform/clock.ts";
import { ExitCode, type ExitCodeValue } from "../../platform/exit-codes.ts";
import { redactUrlCredentials } from "../../platform/redact.ts";
import { MosquittoFileError } from "../broker/mosquitto-files.ts";
import {
  exportToMosquitto,
  MosquittoProvisioningError,
  type MosquittoSettings,
  mosquittoSettings,
} from "../broker/mosquitto-provisioning.ts";
import { openStore } from "../store/open-store.ts";
import { describeMachineLogin } from "./machine-login.ts";
import { type MachineEntry, MachineRegistry, RegistryError } from "./machine-registry.ts";

/**
 * `vend-bridge machines add|rotate-key|rotate-password|list|remove|export-mosquitto`: the machine registry kept in the
 * store, next to the machines of the config file. When the broker is an external Mosquitto the bridge provisions
 * (`broker.mosquitto`), every change of a login (add, rotate-password, remove) rewrites Mosquitto's password and ACL
 * files from the store and reloads it; `export-mosquitto` does only that. Secrets never go on the command line: the command key and the MQTT password are read from files,
 * or the command key is generated and printed once, when it is made (the agent's config needs the same key); no other
 * command prints it. `add` never replaces a machine silently (`--force` does), and says how the machine will log in.
 */
export const machinesCommand: CliCommand = {
  name: "machines",
  summary:
    "add, list, rotate the command key or MQTT password of, or remove machines in the bridge's store; export them to Mosquitto",
  usage:
    "machines list [--json] | machines add <id> --catalog FILE [--name NAME] [--command-key-file FILE] " +
    "[--mqtt-password-file FILE] [--certificate-cn CN] [--force] | machines rotate-key <id> [--command-key-file FILE] " +
    "| machines rotate-password <id> [--mqtt-password-file FILE] | machines remove <id> | machines export-mosquitto" +
    "   (all take --config FILE)",
  run: async ({ argv, out, env }) => {
    const { values, positionals } = parseCommandArgs(argv, {
      catalog: { type: "string" },
      name: { type: "string" },
      "command-key-file": { type: "string" },
      "mqtt-password-file": { type: "string" },
      "certificate-cn": { type: "string" },
      force: { type: "boolean" },
    });
    const [action, machineId, extra] = positionals;
    const actions = ["list", "add", "rotate-key", "rotate-password", "remove", "export-mosquitto"] as const;
    if (action === undefined) throw new UsageError(`missing subcommand: ${actions.join(", ")}`);
    if (!(actions as readonly string[]).includes(action))
      throw new UsageError(`unknown subcommand '${action}' (${actions.join(", ")})`);
    const takesId = action !== "list" && action !== "export-mosquitto";
    if (!takesId && machineId !== undefined) throw new UsageError(`unexpected argument '${machineId}'`);
    if (takesId && machineId === undefined) throw new UsageError(`${action} needs the machine id`);
    if (extra !== undefined) throw new UsageError(`unexpected argument '${extra}'`);
    if (machineId !== undefined && !tokenId.safeParse(machineId).success) {
      throw new UsageError(`'${machineId}' is not a machine id: 1-32 characters of A-Z, a-z, 0-9, '.', '_' or '-'`);
    }
    const loaded = loadOrReport(
      bridgeConfigSpec,
      { configFile: values.config, secretsDir: values["secrets-dir"], env },
      out,
    );
    if (!loaded.ok) return loaded.exitCode;
    const mosquitto = mosquittoSettings(loaded.config);
    if (action === "export-mosquitto" && mosquitto === undefined) {
      out.error(
        "vend-bridge machines export-mosquitto: the config has no broker.mosquitto (broker.mode external): nothing to export to",
      );
      return ExitCode.config;
    }
    // Everything given to `add` is read and validated before the store is opened: bad input never changes it.
    let toAdd: { entry: MachineEntry; generatedKey: string | undefined } | undefined;
    if (action === "add") {
      const id = machineId as string;
      if (id === loaded.config.bridgeMqtt.username) {
        throw new UsageError(`the machine id ${id} is the bridge's own MQTT username (bridgeMqtt.username)`);
      }
      const built = buildEntry(values);
      if (!built.ok) {
        out.error(`vend-bridge machines add ${id}: ${built.error}`);
        return ExitCode.usage;
      }
      toAdd = built;
    }
    // rotate-key reads its new key (or makes one) before the store is opened, like add.
    let rotation: { commandKey: string; generated: boolean } | undefined;
    if (action === "rotate-key") {
      const key = readCommandKey(values["command-key-file"]);
      if (!key.ok) {
        out.error(`vend-bridge machines rotate-key ${machineId}: ${key.error}`);
        return ExitCode.usage;
      }
      rotation = key;
    }
    let newPassword: { password: string; generated: boolean } | undefined;
    if (action === "rotate-password") {
      const password = readMqttPassword(values["mqtt-password-file"]);
      if (!password.ok) {
        out.error(`vend-bridge machines rotate-password ${machineId}: ${password.error}`);
        return ExitCode.usage;
      }
      newPassword = password;
    }
    let store: Awaited<ReturnType<typeof openStore>>["store"];
    try {
      ({ store } = await openStore(loaded.config.store.url));
    } catch (error) {
      out.error(`cannot open the store ${redactUrlCredentials(loaded.config.store.url)}: ${(error as Error).message}`);
      return ExitCode.unavailable;
    }
    try {
      const registry = new MachineRegistry({ machines: loaded.config.machines, store, clock: systemClock, cacheMs: 0 });
      if (action === "list") {
        const machines = await registry.list();
        const rows = await Promise.all(
          machines.map(async (machine) => ({
            id: machine.machineId,
            name: machine.name ?? null,
            source: machine.source,
            currency: machine.catalog.currency,
            products: Object.keys(machine.catalog.products).length,
            unavailable: (await store.machineUnavailableReason(machine.machineId)) ?? null,
          })),
        );
        if (values.json) out.json(rows);
        else if (rows.length === 0) out.line("no machines");
        else {
          for (const row of rows) {
            const flag = row.unavailable ? out.bad(` unavailable: ${row.unavailable}`) : "";
            out.line(
              `${row.id.padEnd(20)} ${row.source.padEnd(6)} ${row.currency} ${row.products} products  ${row.name ?? ""}${flag}`,
            );
          }
        }
        return ExitCode.ok;
      }
      if (action === "export-mosquitto") {
        return provision(out, loaded.config, mosquitto as MosquittoSettings, registry, "export-mosquitto");
      }
      const id = machineId as string;
      if (action === "rotate-key") {
        const { commandKey, generated } = rotation as NonNullable<typeof rotation>;
        try {
          await registry.rotateKey(id, commandKey);
        } catch (error) {
          if (!(error instanceof RegistryError)) throw error;
          out.error(error.message);
          return ExitCode.failure;
        }
        out.line(
          `${out.ok("rotated")} the command key of ${id}; the machine refuses commands until its agent has the new key`,
        );
        if (generated) out.line(`new command key (put it in the agent's config; it is not shown again): ${commandKey}`);
        return ExitCode.ok;
      }
      if (action === "rotate-password") {
        const { password, generated } = newPassword as NonNullable<typeof newPassword>;
        try {
          await registry.rotatePassword(id, password);
        } catch (error) {
          if (!(error instanceof RegistryError)) throw error;
          out.error(error.message);
          return ExitCode.failure;
        }
        out.line(
          `${out.ok("rotated")} the MQTT password of ${id}; the old one is refused from now on (after the reload, on Mosquitto)`,
        );
        if (generated) out.line(`new MQTT password (put it in the agent's config; it is not shown again): ${password}`);
        return mosquitto ? provision(out, loaded.config, mosquitto, registry, `rotate-password ${id}`) : ExitCode.ok;
      }
      if (action === "remove") {
        let removed: boolean;
        try {
          removed = await registry.remove(id);
        } catch (error) {
          if (!(error instanceof RegistryError)) throw error;
          out.error(error.message);
          return ExitCode.failure;
        }
        if (!removed) {
          out.error(`machine ${id} is not in the store`);
          return ExitCode.failure;
        }
        out.line(`${out.ok("removed")} ${id}`);
        return mosquitto ? provision(out, loaded.config, mosquitto, registry, `remove ${id}`) : ExitCode.ok;
      }
      const { entry, generatedKey } = toAdd as NonNullable<typeof toAdd>;
      const existing = await store.getMachine(id);
      if (existing && !values.force) {
        out.error(
          `machine ${id} is already in the store; nothing changed. Replace it with 'machines add ${id} ... --force', or change only its key with 'machines rotate-key ${id}'`,
        );
        return ExitCode.failure;
      }
      try {
        await registry.add(id, entry);
      } catch (error) {
        if (error instanceof RegistryError) {
          out.error(error.message);
          return ExitCode.failure;
        }
        throw error;
      }
      out.line(`${out.ok(existing ? "replaced" : "added")} ${id}`);
      for (const line of describeMachineLogin(loaded.config, id, entry, values["mqtt-password-file"])) out.line(line);
      if (generatedKey) out.line(`command key (put it in the agent's config; it is not shown again): ${generatedKey}`);
      return mosquitto ? provision(out, loaded.config, mosquitto, registry, `add ${id}`) : ExitCode.ok;
    } finally {
      await store.close();
    }
  },
};

/**
 * Rewrites Mosquitto's files from the store and reloads it, saying what it did and which machines it left out (and
 * why). A failure after the store changed says so: the store is right, Mosquitto is behind until an export succeeds.
 */
async function provision(
  out: CliContext["out"],
  config: Parameters<typeof exportToMosquitto>[0]["config"],
  settings: MosquittoSettings,
  machines: MachineRegistry,
  what: string,
): Promise<ExitCodeValue> {
  try {
    const result = await exportToMosquitto({ config, settings, machines });
    out.line(
      `${out.ok("mosquitto")} ${settings.passwordFile} and ${settings.aclFile} written (${result.machines.length} machines and ${config.bridgeMqtt.username})`,
    );
    if (result.reload.done) out.line(`${out.ok("reloaded")} Mosquitto: ${result.reload.how}`);
    else out.line(out.bad(`not reloaded: ${result.reload.why}`));
    for (const { machineId, reason } of result.skipped) out.line(out.bad(`not in Mosquitto: ${machineId}: ${reason}`));
    return ExitCode.ok;
  } catch (error) {
    if (!(error instanceof MosquittoProvisioningError) && !(error instanceof MosquittoFileError)) throw error;
    const after = what === "export-mosquitto" ? "" : ` The store has the change (${what}); Mosquitto does not yet.`;
    out.error(
      `vend-bridge machines ${what}: Mosquitto not updated: ${error.message}.${after} Fix it and run 'vend-bridge machines export-mosquitto'.`,
    );
    return ExitCode.failure;
  }
}

/**
 * The entry `add` stores, from the command line's files: the catalog (YAML or JSON), the command key and the MQTT
 * password (one line each), all validated against the config file's machine schema. A clear message on any problem.
 */
function buildEntry(values: {
  catalog?: string | undefined;
  name?: string | undefined;
  "command-key-file"?: string | undefined;
  "mqtt-password-file"?: string | undefined;
  "certificate-cn"?: string | undefined;
}): { ok: true; entry: MachineEntry; generatedKey: string | undefined } | { ok: false; error: string } {
  if (!values.catalog) throw new UsageError("add needs --catalog FILE (YAML or JSON: {currency, products})");
  const catalogText = read("catalog", values.catalog);
  if (!catalogText.ok) return catalogText;
  let catalog: unknown;
  try {
    catalog = YAML.parse(catalogText.text);
  } catch (error) {
    return { ok: false, error: `the catalog file ${values.catalog} is not YAML or JSON: ${(error as Error).message}` };
  }
  const key = readCommandKey(values["command-key-file"]);
  if (!key.ok) return key;
  const commandKey = key.commandKey;
  const generatedKey = key.generated ? key.commandKey : undefined;
  let mqttPassword: string | undefined;
  if (values["mqtt-password-file"]) {
    const password = read("MQTT password", values["mqtt-password-file"]);
    if (!password.ok) return password;
    mqttPassword = password.text.trim();
  }
  const parsed = machineEntry.safeParse({
    ...(values.name !== undefined ? { name: values.name } : {}),
    catalog,
    commandKey,
    ...(mqttPassword !== undefined ? { mqttPassword } : {}),
    ...(values["certificate-cn"] !== undefined ? { certificateCn: values["certificate-cn"] } : {}),
  });
  if (!parsed.success) {
    // The messages name the field, never its value: a key or password must not end up in a terminal's scrollback.
    return {
      ok: false,
      error: parsed.error.issues.map((issue) => `${issue.path.join(".") || "(entry)"}: ${issue.message}`).join("; "),
    };
  }
  return { ok: true, entry: parsed.data, generatedKey };
}

function read(what: string, file: string): { ok: true; text: string } | { ok: false; error: string } {
  try {
    return { ok: true, text: readFileSync(file, "utf8") };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { ok: false, error: `cannot read the ${what} file ${file}: ${code ?? (error as Error).message}` };
  }
}

/** A new MQTT password from a file (one line, checked like the config's), or a new random one (128 bits and more). */
function readMqttPassword(
  file: string | undefined,
): { ok: true; password: string; generated: boolean } | { ok: false; error: string } {
  if (!file) return { ok: true, password: randomBytes(24).toString("base64url"), generated: true };
  const text = read("MQTT password", file);
  if (!text.ok) return text;
  const password = text.text.trim();
  // The message names the field, never the value.
  if (!machineEntry.shape.mqttPassword.safeParse(password).success || password === "") {
    return { ok: false, error: "mqttPassword: must be at least 12 characters" };
  }
  return { ok: true, password, generated: false };
}

/** The command key from a file (one line, checked like the config's), or a new random one. */
function readCommandKey(
  file: string | undefined,
): { ok: true; commandKey: string; generated: boolean } | { ok: false; error: string } {
  if (!file) return { ok: true, commandKey: randomBytes(32).toString("hex"), generated: true };
  const key = read("command key", file);
  if (!key.ok) return key;
  const commandKey = key.text.trim();
  // The message names the field, never the value.
  if (!machineEntry.shape.commandKey.safeParse(commandKey).success) {
    return { ok: false, error: "commandKey: must be 32 to 64 bytes written as hex" };
  }
  return { ok: true, commandKey, generated: false };
}
