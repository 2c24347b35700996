import { describe, expect, it } from "vitest";
import { bridgeConfigSchema } from "../../config/schema/bridge.ts";
import { bridgeConfigObject } from "./fixtures.ts";

/** timeouts.statusPollIntervalMs: a lost notification leaves only the poll to meet SEQR's 20-second rule. */
describe("bridge timeouts", () => {
  const withPoll = (statusPollIntervalMs: number) =>
    bridgeConfigSchema.safeParse({ ...bridgeConfigObject(), timeouts: { statusPollIntervalMs } });

  it("accepts a status poll interval up to 10 s", () => {
    expect(withPoll(10_000).success).toBe(true);
    expect(bridgeConfigSchema.parse(bridgeConfigObject()).timeouts.statusPollIntervalMs).toBe(3_000);
  });

  it("refuses a status poll interval above 10 s, naming the key", () => {
    const result = withPoll(15_000);
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(["timeouts", "statusPollIntervalMs"]);
  });

  it("sweeps open purchases every 10 s by default: a dead instance's confirmed payment is polled within SEQR's 20 s", () => {
    // The sweep is what polls the status of another instance's purchase (its notification lost with it): one sweep
    // interval plus a status call of up to 5 s must stay below SEQR's 20 s.
    expect(bridgeConfigSchema.parse(bridgeConfigObject()).timeouts.sweepIntervalMs).toBeLessThanOrEqual(10_000);
  });
});
