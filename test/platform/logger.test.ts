import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "../../platform/logger.ts";
import { maskMsisdn, redactUrlCredentials } from "../../platform/redact.ts";

function capture() {
  const stream = new PassThrough();
  const lines: string[] = [];
  stream.on("data", (chunk: Buffer) => lines.push(...chunk.toString().split("\n").filter(Boolean)));
  return { stream, lines };
}

describe("logger", () => {
  it("writes one JSON object per line with level, module and message", async () => {
    const { stream, lines } = capture();
    const logger = createLogger({ name: "vend-agent", level: "info", destination: stream }).child({ module: "mqtt" });
    logger.info({ broker: "mqtt://x" }, "connected");
    logger.debug("not shown at info");
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      level: "info",
      name: "vend-agent",
      module: "mqtt",
      msg: "connected",
    });
  });

  it("never writes secrets or phone numbers in clear, at any depth", async () => {
    const { stream, lines } = capture();
    const logger = createLogger({ name: "vend-bridge", level: "info", destination: stream });
    logger.info(
      {
        msisdn: "46701234567",
        request: { msisdn: "46709876543", password: "pw-123" },
        seqr: { context: { password: "terminal-pw" } },
      },
      "createPurchase",
    );
    logger
      .child({ module: "x" })
      .warn({ commandKey: "aa".repeat(32), err: { config: { password: "deep-pw" } } }, "oops");
    await new Promise((resolve) => setImmediate(resolve));
    const text = lines.join("\n");
    for (const secret of ["46701234567", "46709876543", "pw-123", "terminal-pw", "aa".repeat(32), "deep-pw"]) {
      expect(text).not.toContain(secret);
    }
    expect(JSON.parse(lines[0]!).msisdn).toBe("*********67");
  });

  it("masks phone numbers and URL passwords for messages built by hand", () => {
    expect(maskMsisdn("483344323423")).toBe("**********23");
    expect(redactUrlCredentials("postgres://vend:hunter2@db/vend")).toBe("postgres://vend:[redacted]@db/vend");
    expect(redactUrlCredentials("mqtt://host:1883")).toBe("mqtt://host:1883");
  });
});
