import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RetainedIndex, type RetainedPacket } from "../../backend-bridge/broker/retained-index.ts";

/** MQTT topic matching written the plain way (level by level), the reference the index must agree with. */
function matches(filter: string, topic: string): boolean {
  const f = filter.split("/");
  const t = topic.split("/");
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return true;
    if (i >= t.length) return false;
    if (f[i] !== "+" && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

const level = fc.constantFrom("a", "b", "", "vending", "M1");
const topic = fc.array(level, { minLength: 1, maxLength: 4 }).map((levels) => levels.join("/"));
const filter = fc
  .tuple(fc.array(fc.oneof(level, fc.constant("+")), { minLength: 0, maxLength: 4 }), fc.boolean())
  .filter(([levels, hash]) => levels.length > 0 || hash)
  .map(([levels, hash]) => [...levels, ...(hash ? ["#"] : [])].join("/"));
const operation = fc.record({ topic, payload: fc.constantFrom("", "x", "online") });

describe("the embedded broker's retained index", () => {
  it("answers every filter with exactly the retained messages MQTT matching selects, after any stores and deletes", () => {
    fc.assert(
      fc.property(
        fc.array(operation, { maxLength: 30 }),
        fc.array(filter, { minLength: 1, maxLength: 5 }),
        (ops, filters) => {
          const index = new RetainedIndex<RetainedPacket>();
          const reference = new Map<string, string>();
          for (const op of ops) {
            index.store({ topic: op.topic, payload: op.payload });
            if (op.payload.length === 0) reference.delete(op.topic);
            else reference.set(op.topic, op.payload);
          }
          expect(index.size).toBe(reference.size);
          for (const f of filters) {
            const got = [...index.matching(f)].map((p) => `${p.topic}=${String(p.payload)}`).sort();
            const want = [...reference]
              .filter(([t]) => matches(f, t))
              .map(([t, p]) => `${t}=${p}`)
              .sort();
            expect(got).toEqual(want);
          }
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it("keeps a copy: a packet changed after it was stored does not change the retained message", () => {
    const index = new RetainedIndex<RetainedPacket>();
    const packet = { topic: "vending/v1/M1/availability", payload: "online" };
    index.store(packet);
    packet.payload = "offline";
    expect([...index.matching("vending/v1/+/availability")].map((p) => p.payload)).toEqual(["online"]);
  });

  it("a machine's own command filter reads nothing of the other machines' retained messages", () => {
    const index = new RetainedIndex<RetainedPacket>();
    for (let i = 0; i < 1_000; i++) index.store({ topic: `vending/v1/M${i}/availability`, payload: "online" });
    expect([...index.matching("vending/v1/M7/cmd/+")]).toEqual([]);
    expect([...index.matching("vending/v1/M7/#")].map((p) => p.topic)).toEqual(["vending/v1/M7/availability"]);
    expect([...index.matching("vending/v1/+/availability")]).toHaveLength(1_000);
  });
});
