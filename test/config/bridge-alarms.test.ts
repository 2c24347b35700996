import { describe, expect, it } from "vitest";
import { bridgeConfigSchema } from "../../config/schema/bridge.ts";
import { bridgeConfigObject } from "./fixtures.ts";

/** alarms.*: thresholds with defaults, and a webhook that is off unless configured, HTTPS or loopback HTTP only. */
describe("bridge alarms config", () => {
  const withAlarms = (alarms: Record<string, unknown>) =>
    bridgeConfigSchema.safeParse({ ...bridgeConfigObject(), alarms });

  it("has no webhook by default, 10 minutes offline and 24 hours unresolved as thresholds", () => {
    const alarms = bridgeConfigSchema.parse(bridgeConfigObject()).alarms;
    expect(alarms.webhook.url).toBeUndefined();
    expect(alarms.offlineAfterMs).toBe(600_000);
    expect(alarms.reconciliationStuckAfterMs).toBe(86_400_000);
  });

  it("accepts an HTTPS webhook anywhere and plain HTTP to a loopback address", () => {
    for (const url of [
      "https://hooks.example.com/alarms",
      "http://127.0.0.1:8080/a",
      "http://[::1]/a",
      "http://localhost/a",
    ])
      expect(withAlarms({ webhook: { url } }).success, url).toBe(true);
  });

  it("refuses plain HTTP to another host and a URL of another scheme, naming the key", () => {
    for (const url of ["http://hooks.example.com/alarms", "ftp://127.0.0.1/a", "not a url"]) {
      const result = withAlarms({ webhook: { url } });
      expect(result.success, url).toBe(false);
      expect(result.error?.issues[0]?.path, url).toEqual(["alarms", "webhook", "url"]);
    }
  });
});
