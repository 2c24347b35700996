import { describe, expect, it } from "vitest";
import {
  authorizePublishTopic,
  authorizeSubscribeFilter,
  authorizeWill,
  type BrokerIdentity,
} from "../../backend-bridge/broker/access-control.ts";

const root = "vending/v1";
const m1: BrokerIdentity = { kind: "machine", machineId: "M1" };
const bridge: BrokerIdentity = { kind: "bridge", username: "vend-bridge" };

describe("broker ACL", () => {
  it.each([
    ["vending/v1/M1/availability", true, true],
    ["vending/v1/M1/state", true, true],
    ["vending/v1/M1/event/vended", false, true],
    ["vending/v1/M1/event/vended", true, false],
    ["vending/v1/M1/event", false, false],
    ["vending/v1/M1/event/vended/x", false, false],
    ["vending/v1/M1/cmd/unlock", false, false],
    ["vending/v1/M2/event/vended", false, false],
    ["vending/v1/M2/availability", true, false],
    ["vending/v1/M1", false, false],
    ["vending/v2/M1/state", false, false],
    ["$SYS/anything", false, false],
    ["other/M1/state", false, false],
  ])("machine M1 publishing to %s (retain %s): allowed %s", (topic, retain, ok) => {
    expect(authorizePublishTopic(root, m1, topic, retain).ok).toBe(ok);
  });

  it("lets the bridge publish anywhere except $SYS", () => {
    expect(authorizePublishTopic(root, bridge, "vending/v1/M2/cmd/unlock", false).ok).toBe(true);
    expect(authorizePublishTopic(root, bridge, "anything/else", true).ok).toBe(true);
    expect(authorizePublishTopic(root, bridge, "$SYS/x", false).ok).toBe(false);
  });

  it.each([
    ["vending/v1/M1/cmd/+", true],
    ["vending/v1/M1/cmd/unlock", true],
    ["vending/v1/M1/cmd/#", false],
    ["vending/v1/M1/cmd/unlock/x", false],
    ["vending/v1/M1/#", false],
    ["vending/v1/M2/cmd/+", false],
    ["vending/v1/+/cmd/+", false],
    ["#", false],
    ["$SYS/#", false],
    ["$share/g/vending/v1/M1/cmd/+", false],
  ])("machine M1 subscribing to %s: allowed %s", (filter, ok) => {
    expect(authorizeSubscribeFilter(root, m1, filter).ok).toBe(ok);
  });

  it("checks the will of machines only", () => {
    expect(authorizeWill(root, m1, undefined).ok).toBe(true);
    expect(authorizeWill(root, m1, "vending/v1/M1/availability").ok).toBe(true);
    expect(authorizeWill(root, m1, "vending/v1/M2/availability").ok).toBe(false);
    expect(authorizeWill(root, m1, "vending/v1/M1/event/vended").ok).toBe(false);
    expect(authorizeWill(root, bridge, "anything").ok).toBe(true);
  });

  it("says why it refuses (the broker logs it), and treats the bare $SYS topic as the broker's too", () => {
    const refused = (reason: string) => ({ ok: false, reason });
    const sys = refused("$SYS/ topics are reserved to the broker");
    expect(authorizePublishTopic(root, bridge, "$SYS", false)).toEqual(sys);
    expect(authorizePublishTopic(root, bridge, "$SYS/x", false)).toEqual(sys);
    expect(authorizePublishTopic(root, bridge, "$SYSTEM", false)).toEqual({ ok: true });
    expect(authorizePublishTopic(root, m1, "vending/v1/M2/state", false)).toEqual(
      refused("machine M1 may publish only under vending/v1/M1/"),
    );
    expect(authorizePublishTopic(root, m1, "vending/v1/M1/event/vended", true)).toEqual(
      refused("events must not be retained"),
    );
    expect(authorizePublishTopic(root, m1, "vending/v1/M1/cmd/unlock", false)).toEqual(
      refused("machines do not publish commands"),
    );
    expect(authorizeSubscribeFilter(root, m1, "#")).toEqual(
      refused("machine M1 may subscribe only to vending/v1/M1/cmd/+"),
    );
    expect(authorizeWill(root, m1, "vending/v1/M2/availability")).toEqual(
      refused("machine M1 may set a will only on its own availability topic"),
    );
  });
});
