import type { z } from "zod";
import { fieldMeta } from "./field.ts";

/** What we need to know about one leaf key of a configuration schema. */
export interface LeafInfo {
  /** Path segments; `*` stands for any key of a record or any array index. */
  path: string[];
  kind: "string" | "number" | "boolean" | "enum" | "other";
  description: string;
  secret: boolean;
  defaultValue: unknown;
  hasDefault: boolean;
  optional: boolean;
}

interface Def {
  type: string;
  innerType?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  options?: z.ZodType[];
  valueType?: z.ZodType;
  element?: z.ZodType;
  in?: z.ZodType;
  defaultValue?: unknown;
}

function defOf(schema: z.ZodType): Def {
  return (schema as unknown as { _zod: { def: Def } })._zod.def;
}

/** Lists every leaf of a schema with its metadata. Variants of a union contribute their leaves (merged by path). */
export function walkSchema(schema: z.ZodType): LeafInfo[] {
  const leaves = new Map<string, LeafInfo>();
  visit(schema, [], { description: "", secret: false, hasDefault: false, defaultValue: undefined, optional: false });
  return [...leaves.values()];

  function visit(
    node: z.ZodType,
    path: string[],
    inherited: { description: string; secret: boolean; hasDefault: boolean; defaultValue: unknown; optional: boolean },
  ): void {
    const meta = fieldMeta(node);
    const here = {
      ...inherited,
      description: inherited.description || meta.description || "",
      secret: inherited.secret || meta.secret === true,
    };
    const def = defOf(node);
    switch (def.type) {
      case "default":
      case "prefault": {
        const value = typeof def.defaultValue === "function" ? (def.defaultValue as () => unknown)() : def.defaultValue;
        visit(def.innerType!, path, { ...here, hasDefault: true, defaultValue: value });
        return;
      }
      case "optional":
      case "nullable":
        visit(def.innerType!, path, { ...here, optional: true });
        return;
      case "pipe":
        visit(def.in!, path, here);
        return;
      case "object":
        for (const [key, child] of Object.entries(def.shape ?? {})) {
          const childDefault =
            here.hasDefault && here.defaultValue && typeof here.defaultValue === "object"
              ? (here.defaultValue as Record<string, unknown>)[key]
              : undefined;
          visit(child, [...path, key], {
            description: "",
            secret: here.secret,
            hasDefault: childDefault !== undefined,
            defaultValue: childDefault,
            optional: false,
          });
        }
        return;
      case "union":
        for (const option of def.options ?? []) visit(option, path, here);
        return;
      case "record":
        visit(def.valueType!, [...path, "*"], { ...here, hasDefault: false, defaultValue: undefined, description: "" });
        return;
      case "array":
        addLeaf(path, "other", here);
        return;
      case "string":
        addLeaf(path, "string", here);
        return;
      case "number":
      case "int":
        addLeaf(path, "number", here);
        return;
      case "boolean":
        addLeaf(path, "boolean", here);
        return;
      case "enum":
      case "literal":
        addLeaf(path, "enum", here);
        return;
      default:
        addLeaf(path, "other", here);
    }
  }

  function addLeaf(
    path: string[],
    kind: LeafInfo["kind"],
    info: { description: string; secret: boolean; hasDefault: boolean; defaultValue: unknown; optional: boolean },
  ): void {
    const key = path.join(".");
    const existing = leaves.get(key);
    if (existing) {
      existing.description ||= info.description;
      existing.secret ||= info.secret;
      return;
    }
    leaves.set(key, { path, kind, ...info });
  }
}

/** True when a concrete path (e.g. machines.M1.commandKey) matches a leaf pattern (machines.*.commandKey). */
export function pathMatches(pattern: readonly string[], path: readonly (string | number)[]): boolean {
  if (pattern.length !== path.length) return false;
  return pattern.every((segment, index) => segment === "*" || segment === String(path[index]));
}
