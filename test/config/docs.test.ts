import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { configDocs } from "../../scripts/generate-config-docs.ts";

describe("generated configuration reference", () => {
  it.each(Object.entries(configDocs()))("%s is up to date (run `npm run docs:config`)", (file, content) => {
    expect(readFileSync(file, "utf8")).toBe(content);
  });
});

/**
 * The README and the sandbox's README are read by people who have this repository only: they cite the repository's own
 * docs (docs/money-rules.md, docs/seqr-protocol.md), never the project's internal design notes, and every relative
 * link resolves to a file that exists.
 */
describe("user-facing docs cite only what the repository has", () => {
  const documents = ["README.md", "backend-bridge/sandbox/README.md", "docs/money-rules.md", "docs/seqr-protocol.md"];
  it.each(documents)("%s", (document) => {
    const text = readFileSync(document, "utf8");
    expect(text).not.toMatch(/design §|shared\/seqr-protocol|shared\/design/);
    const links = [...text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)]
      .map((match) => match[1] ?? "")
      .filter((target) => !/^[a-z]+:/.test(target));
    for (const target of links) {
      expect(existsSync(join(dirname(document), target)), `${document} links to ${target}`).toBe(true);
    }
  });

  it("README links the money rules and the protocol facts", () => {
    const readme = readFileSync("README.md", "utf8");
    expect(readme).toContain("(docs/money-rules.md)");
    expect(readme).toContain("(docs/seqr-protocol.md)");
  });
});
