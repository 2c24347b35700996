import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Certificates for the TLS tests, made with the system's openssl in a temporary directory: a CA, a server
 * certificate for localhost/127.0.0.1 signed by it, client certificates signed by it, and a rogue CA whose
 * client certificates the broker must not trust.
 */
export interface TlsFixtures {
  dir: string;
  ca: Buffer;
  serverCert: Buffer;
  serverKey: Buffer;
  client(cn: string, options?: { rogue?: boolean }): { cert: Buffer; key: Buffer };
  cleanup(): void;
}

export function makeTlsFixtures(): TlsFixtures {
  const dir = mkdtempSync(join(tmpdir(), "broker-tls-"));
  const path = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  const newKey = (name: string) => openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", path(name));
  const selfSignedCa = (name: string, cn: string) => {
    newKey(`${name}.key`);
    openssl(
      "req",
      "-x509",
      "-new",
      "-key",
      path(`${name}.key`),
      "-out",
      path(`${name}.pem`),
      "-days",
      "2",
      "-subj",
      `/CN=${cn}`,
    );
  };
  const signed = (name: string, cn: string, caName: string, extensions: string) => {
    newKey(`${name}.key`);
    openssl("req", "-new", "-key", path(`${name}.key`), "-out", path(`${name}.csr`), "-subj", `/CN=${cn}`);
    writeFileSync(path(`${name}.ext`), extensions);
    openssl(
      "x509",
      "-req",
      "-in",
      path(`${name}.csr`),
      "-CA",
      path(`${caName}.pem`),
      "-CAkey",
      path(`${caName}.key`),
      "-CAcreateserial",
      "-out",
      path(`${name}.pem`),
      "-days",
      "2",
      "-extfile",
      path(`${name}.ext`),
    );
    return { cert: readFileSync(path(`${name}.pem`)), key: readFileSync(path(`${name}.key`)) };
  };
  selfSignedCa("ca", "seqr-vend test CA");
  selfSignedCa("rogue", "rogue CA");
  const server = signed(
    "server",
    "localhost",
    "ca",
    "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
  );
  let counter = 0;
  return {
    dir,
    ca: readFileSync(path("ca.pem")),
    serverCert: server.cert,
    serverKey: server.key,
    client: (cn, options = {}) =>
      signed(`client${counter++}`, cn, options.rogue ? "rogue" : "ca", "extendedKeyUsage=clientAuth\n"),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
