import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parsePeriod } from "../../backend-bridge/operator/period.ts";
import { listPurchases, purchaseTimeline } from "../../backend-bridge/operator/purchases-query.ts";
import { Harness } from "./helpers/harness.ts";
import { runScriptedDay, type ScriptedDay } from "./helpers/scripted-day.ts";
import { storeKinds } from "./helpers/test-stores.ts";

describe.each(storeKinds)("operator purchase queries on %s", (kind) => {
  let h: Harness;
  let day: ScriptedDay;
  beforeAll(async () => {
    h = await Harness.start(kind);
    day = await runScriptedDay(h);
  }, 120_000);
  afterAll(async () => {
    await h?.close();
  });

  const ids = async (query: Parameters<typeof listPurchases>[1]) =>
    (await listPurchases(h.store, query)).map((purchase) => purchase.sessionId);

  it("lists newest first, and filters by machine, state, period and flag", async () => {
    expect(await ids({})).toEqual([day.p5, day.p4, day.p3, day.p2, day.p1]);
    expect(await ids({ machineId: "M2" })).toEqual([day.p4]);
    expect(await ids({ states: ["cancelled"] })).toEqual([day.p3]);
    expect(await ids({ states: [] })).toEqual([]);
    expect(await ids(parsePeriod({ from: "2026-01-16" }))).toEqual([day.p5]);
    expect(await ids(parsePeriod({ to: "2026-01-15T11:00:00Z" }))).toEqual([day.p1]);
    expect(await ids({ flagged: true })).toEqual([day.p2, day.p1]);
    expect(await ids({ machineId: "M1", states: ["committed"], flagged: true, limit: 1 })).toEqual([day.p2]);
    expect(await ids({ machineId: "nobody" })).toEqual([]);
  });

  it("shows a purchase without its notification secret and with the phone number masked", async () => {
    const [p5] = await listPurchases(h.store, { limit: 1 });
    expect(p5).toMatchObject({
      sessionId: day.p5,
      machineId: "M1",
      state: "committed",
      currency: "EUR",
      reservedMinor: 6000,
      billedMinor: 5000,
      committedMinor: 5000,
      msisdn: "*********67",
      flags: [],
    });
    expect(JSON.stringify(p5)).not.toContain((await h.store.getPurchase(day.p5))?.notifySecret);
    const [p2] = await listPurchases(h.store, { flagged: true, limit: 1 });
    expect(p2?.flags).toEqual(["unknown-vend"]);
  });

  it("the timeline by session id or invoice reference: transitions, vends and SEQR calls in time order", async () => {
    const bySession = await purchaseTimeline(h.store, day.p1);
    const reference = bySession?.purchase.invoiceReference as string;
    expect(await purchaseTimeline(h.store, reference)).toEqual(bySession);
    expect(await purchaseTimeline(h.store, "no-such-purchase")).toBeUndefined();
    const timeline = bySession?.timeline ?? [];
    const states = timeline.flatMap((entry) => (entry.kind === "audit" && entry.toState ? [entry.toState] : []));
    expect(states).toEqual(expect.arrayContaining(["claimed", "invoiced", "reserved", "committing", "committed"]));
    expect(
      timeline.filter((entry) => entry.kind === "vend").map((entry) => entry.kind === "vend" && entry.vendId),
    ).toEqual(["v1", "v2", "v9"]);
    expect(timeline.some((entry) => entry.kind === "audit" && entry.reason === "reconcile:vended-after-close")).toBe(
      true,
    );
    expect(timeline.map((entry) => entry.at)).toEqual([...timeline.map((entry) => entry.at)].sort((a, b) => a - b));
    expect(bySession?.outbox.map((item) => [item.kind, item.status])).toEqual(
      expect.arrayContaining([
        ["updateInvoice", "done"],
        ["commitReservation", "done"],
      ]),
    );
    expect(bySession?.purchase.flags).toEqual(["vended-after-close"]);
  });
});

describe.each(storeKinds)("operator purchase view of a running session on %s", (kind) => {
  let h: Harness;
  afterAll(async () => {
    await h?.close();
  });

  it("masks the phone number the store still holds in clear", async () => {
    h = await Harness.start(kind);
    const { sessionId } = await h.reservedPurchase();
    expect((await h.store.getPurchase(sessionId))?.msisdn).toBe("46701234567");
    const [running] = await listPurchases(h.store, { limit: 1 });
    expect(running).toMatchObject({ sessionId, state: "reserved", msisdn: "*********67" });
  });
});
