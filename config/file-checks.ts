import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";

/**
 * What `config check` looks at beyond the schema: the PEM files a configuration names (`*.certFile`, `*.keyFile`,
 * `*.caFile`) exist, are readable by whoever runs the check, hold what their key says, and a certificate and the key
 * beside it belong together. A technician learns this from `config check`, not from the service failing at start.
 */

export interface FileProblem {
  path: string;
  file: string;
  message: string;
}

type Read = (file: string) => Buffer;

export function checkConfigFiles(config: unknown, read: Read = (file) => readFileSync(file)): FileProblem[] {
  const problems: FileProblem[] = [];
  walk(config, [], problems, read);
  return problems;
}

function walk(node: unknown, path: string[], problems: FileProblem[], read: Read): void {
  if (node === null || typeof node !== "object" || Array.isArray(node)) return;
  const entries = Object.entries(node as Record<string, unknown>);
  const certificates = new Map<string, { file: string; parsed: X509Certificate }>();
  let key: { path: string; file: string; object: KeyObject } | undefined;
  for (const [name, value] of entries) {
    const here = [...path, name];
    if (typeof value === "string" && (name === "certFile" || name === "keyFile" || name === "caFile")) {
      const at = here.join(".");
      let bytes: Buffer;
      try {
        bytes = read(value);
      } catch (error) {
        problems.push({ path: at, file: value, message: `cannot read it: ${(error as Error).message}` });
        continue;
      }
      try {
        if (name === "keyFile") key = { path: at, file: value, object: createPrivateKey(bytes) };
        else certificates.set(name, { file: value, parsed: new X509Certificate(bytes) });
      } catch (error) {
        const what = name === "keyFile" ? "a PEM private key" : "a PEM certificate";
        problems.push({ path: at, file: value, message: `not ${what}: ${(error as Error).message}` });
      }
      continue;
    }
    walk(value, here, problems, read);
  }
  const certificate = certificates.get("certFile")?.parsed;
  if (certificate && key && !certificate.checkPrivateKey(key.object)) {
    problems.push({
      path: key.path,
      file: key.file,
      message: `this key does not belong to the certificate in ${[...path, "certFile"].join(".")}`,
    });
  }
  for (const [name, { file, parsed }] of certificates) {
    const expires = Date.parse(parsed.validTo);
    if (Number.isFinite(expires) && expires < Date.now()) {
      problems.push({ path: [...path, name].join("."), file, message: `the certificate expired on ${parsed.validTo}` });
    }
  }
}
