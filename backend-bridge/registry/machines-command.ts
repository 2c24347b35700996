import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import YAML from "yaml";
import { loadOrReport } from "../../config/cli.ts";
import { tokenId } from "../../config/field.ts";
import { bridgeConfigSpec } from "../../config/schema/bridge.ts";
import { type CliCommand, parseCommandArgs, UsageError } from "../../platform/cli.ts";
import { systemClock } from "../../platform/clock.ts";
import { ExitCode } from "../../platform/exit-codes.ts";
import { redactUrlCredentials } from "../../platform/redact.ts";
import { openStore } from "../store/open-store.ts";
import { type MachineEntry, MachineRegistry, RegistryError } from "./machine-registry.ts";

/**
 * `vend-bridge machines add|list|remove`: the machine registry kept in the store, next to the machines of the config
 * file. Secrets never go on the command line: the command key and the MQTT password are read from files, or the
 * command key is generated and printed once (the agent's config needs the same key).
 */
export const machinesCommand: CliCommand = {
  name: "machines",
  summary: "add, list or remove machines in the bridge's store",
  usage:
    "machines list [--json] | machines add <id> --catalog FILE [--name NAME] [--command-key-file FILE] " +
    "[--mqtt-password-file FILE] [--certificate-cn CN] | machines remove <id>   (all take --config FILE)",
  run: async ({ argv, out, env }) => {
    const { values, positionals } = parseCommandArgs(argv, {
      catalog: { type: "string" },
      name: { type: "string" },
      "command-key-file": { type: "string" },
      "mqtt-password-file": { type: "string" },
      "certificate-cn": { type: "string" },
    });
    const [action, machineId] = positionals;
    if (action !== "list" && action !== "add" && action !== "remove")
      throw new UsageError("expected list, add or remove");
    if (action !== "list" && (machineId === undefined || !tokenId.safeParse(machineId).success)) {
      throw new UsageError("the machine id must be 1-32 characters of A-Z, a-z, 0-9, '.', '_' or '-'");
    }
    const loaded = loadOrReport(
      bridgeConfigSpec,
      { configFile: values.config, secretsDir: values["secrets-dir"], env },
      out,
    );
    if (!loaded.ok) return loaded.exitCode;
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
      const id = machineId as string;
      if (action === "remove") {
        const removed = await registry.remove(id);
        if (!removed) {
          out.error(`machine ${id} is not in the store`);
          return ExitCode.failure;
        }
        out.line(`${out.ok("removed")} ${id}`);
        return ExitCode.ok;
      }
      if (!values.catalog) throw new UsageError("add needs --catalog FILE (YAML or JSON: {currency, products})");
      const readSecret = (file: string | undefined) => (file ? readFileSync(file, "utf8").trim() : undefined);
      const generatedKey = values["command-key-file"] ? undefined : randomBytes(32).toString("hex");
      const entry = {
        ...(values.name !== undefined ? { name: values.name } : {}),
        catalog: YAML.parse(readFileSync(values.catalog, "utf8")) as unknown,
        commandKey: readSecret(values["command-key-file"]) ?? generatedKey,
        ...(values["mqtt-password-file"] ? { mqttPassword: readSecret(values["mqtt-password-file"]) } : {}),
        ...(values["certificate-cn"] !== undefined ? { certificateCn: values["certificate-cn"] } : {}),
      } as MachineEntry;
      try {
        await registry.add(id, entry);
      } catch (error) {
        if (error instanceof RegistryError) {
          out.error(error.message);
          return ExitCode.failure;
        }
        const issues = (error as { issues?: { path: PropertyKey[]; message: string }[] }).issues;
        if (issues) {
          out.error(issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("\n"));
          return ExitCode.usage;
        }
        throw error;
      }
      out.line(`${out.ok("added")} ${id}`);
      if (generatedKey) out.line(`command key (put it in the agent's config; it is not shown again): ${generatedKey}`);
      return ExitCode.ok;
    } finally {
      await store.close();
    }
  },
};
