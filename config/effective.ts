import { redactedMarker, redactUrlCredentials } from "../platform/redact.ts";
import { isSecretPath, type ValueSource } from "./load.ts";
import type { LeafInfo } from "./schema-walk.ts";

export interface EffectiveEntry {
  path: string;
  value: unknown;
  source: ValueSource;
}

/** Flattens the validated config into leaves, each with its value (secrets redacted) and where it came from. */
export function effectiveEntries(
  config: unknown,
  sources: Map<string, ValueSource>,
  leaves: readonly LeafInfo[],
): EffectiveEntry[] {
  const entries: EffectiveEntry[] = [];
  walk(config, []);
  return entries;

  function walk(value: unknown, path: string[]): void {
    if (value !== null && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length > 0) {
      for (const [key, child] of Object.entries(value)) walk(child, [...path, key]);
      return;
    }
    entries.push({
      path: path.join("."),
      value: redactValue(value, path, leaves),
      // Exact match only: a default under a section given in the file is still a default.
      source: sources.get(path.join(".")) ?? { kind: "default" },
    });
  }
}

function redactValue(value: unknown, path: readonly string[], leaves: readonly LeafInfo[]): unknown {
  if (isSecretPath(leaves, path)) return value === undefined || value === null || value === "" ? value : redactedMarker;
  if (typeof value === "string") return redactUrlCredentials(value);
  return value;
}
