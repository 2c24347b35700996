import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkConfigFiles } from "../../config/file-checks.ts";
import { makeTlsFixtures, type TlsFixtures } from "../broker/tls-fixtures.ts";
import { hasTool } from "../helpers/system-tools.ts";

/** `config check` opens the PEM files a configuration names (leftover of issue 18's review). */
describe.runIf(hasTool("openssl"))("config check: the certificate and key files a configuration names", () => {
  let tls: TlsFixtures;
  const file = (name: string) => join(tls.dir, name);
  beforeAll(() => {
    tls = makeTlsFixtures();
  });
  afterAll(() => tls?.cleanup());

  it("a readable certificate with its own key and a CA: no problem", () => {
    const config = {
      http: { certFile: file("server.pem"), keyFile: file("server.key"), caFile: file("ca.pem") },
      broker: { tls: { certFile: file("server.pem"), keyFile: file("server.key") } },
      machines: { M1: { name: "x" } },
    };
    expect(checkConfigFiles(config)).toEqual([]);
  });

  it("names each problem with its key and file: missing, not PEM, a key of another certificate", () => {
    const config = {
      http: { certFile: file("server.pem"), keyFile: file("ca.key") },
      broker: { tls: { certFile: file("nope.pem"), keyFile: file("server.pem") } },
      mqtt: { tls: { caFile: file("server.key") } },
    };
    const problems = checkConfigFiles(config).map((problem) => [problem.path, problem.message.split(":")[0]]);
    expect(problems).toEqual([
      ["http.keyFile", `this key does not belong to the certificate in http.certFile`],
      ["broker.tls.certFile", "cannot read it"],
      ["broker.tls.keyFile", "not a PEM private key"],
      ["mqtt.tls.caFile", "not a PEM certificate"],
    ]);
  });
});
