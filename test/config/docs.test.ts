import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { configDocs } from "../../scripts/generate-config-docs.ts";

describe("generated configuration reference", () => {
  it.each(Object.entries(configDocs()))("%s is up to date (run `npm run docs:config`)", (file, content) => {
    expect(readFileSync(file, "utf8")).toBe(content);
  });
});
