import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "../platform/logger.ts";
import { type Catalog, catalog as catalogSchema } from "../protocol/catalog.ts";
import { fsyncDirectory } from "./journal/record-file.ts";

/**
 * The catalog a signed `cmd/config` delivered, kept in dataDir so that new prices survive a restart. It wins over the
 * config file's catalog, which is only the starting point; deleting the file goes back to the config file's prices.
 */

export function catalogPath(dataDir: string): string {
  return join(dataDir, "catalog.json");
}

export function loadSavedCatalog(dataDir: string, logger: Logger): Catalog | undefined {
  let text: string;
  try {
    text = readFileSync(catalogPath(dataDir), "utf8");
  } catch {
    return undefined;
  }
  try {
    const parsed = catalogSchema.safeParse(JSON.parse(text));
    if (parsed.success) return parsed.data;
    logger.error({ path: catalogPath(dataDir), problem: parsed.error.message }, "saved catalog is invalid; ignored");
  } catch {
    logger.error({ path: catalogPath(dataDir) }, "saved catalog is not JSON; ignored");
  }
  return undefined;
}

export function saveCatalog(dataDir: string, value: Catalog): void {
  const path = catalogPath(dataDir);
  const temp = `${path}.tmp`;
  const fd = openSync(temp, "w", 0o600);
  try {
    writeSync(fd, JSON.stringify(value, null, 2));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
  fsyncDirectory(dataDir);
}
