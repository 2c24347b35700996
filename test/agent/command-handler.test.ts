import { afterEach, describe, expect, it } from "vitest";
import { CommandHandler, type CommandHandlerOptions } from "../../agent/commands/command-handler.ts";
import { Outbox } from "../../agent/events/outbox.ts";
import type { StoredEvent } from "../../agent/journal/journal-state.ts";
import { systemClock } from "../../platform/clock.ts";
import { silentLogger } from "../../platform/logger.ts";
import { catalogHash } from "../../protocol/catalog.ts";
import { signCommand } from "../../protocol/signing.ts";
import { capturedLogs } from "../helpers/captured-logs.ts";
import { envelope, openSessionHarness, type SessionHarness, until } from "./helpers/session-harness.ts";

/** The command handler between the validation and the session, with a real journal and outbox. */

const key = "33".repeat(32);
const machineId = "M-handler";
const harnesses: SessionHarness[] = [];
const outboxes: Outbox[] = [];

afterEach(async () => {
  for (const outbox of outboxes.splice(0)) outbox.stop();
  for (const opened of harnesses.splice(0)) await opened.close();
});

async function rig(extra: Partial<CommandHandlerOptions> = {}) {
  const h = await openSessionHarness();
  harnesses.push(h);
  const published: StoredEvent[] = [];
  const outbox = new Outbox({
    journal: h.journal,
    transport: {
      isConnected: () => true,
      publishEvent: async (event) => {
        published.push(event);
      },
    },
    clock: systemClock,
    logger: silentLogger(),
  });
  outboxes.push(outbox);
  const handler = new CommandHandler({
    machineId,
    commandKeyHex: key,
    journal: h.journal,
    outbox,
    session: h.session,
    clock: systemClock,
    logger: silentLogger(),
    ...extra,
  });
  const names = () => published.map((event) => event.name);
  return { h, handler, published, names };
}

function signedUnlock(sessionId: string, env = envelope()) {
  const body: Record<string, unknown> = { ...env, sessionId, budgetMinor: 500, currency: "EUR" };
  body.signature = signCommand(key, machineId, "unlock", body);
  return Buffer.from(JSON.stringify(body));
}

describe("command handler", () => {
  it("a replayed unlock of the open session is refused as replayed and resends the unacknowledged events", async () => {
    const { h, handler, names, published } = await rig();
    const unlock = signedUnlock("h-1");
    await handler.handle("unlock", unlock);
    expect(h.journal.state.session?.sessionId).toBe("h-1");
    const unlocked = h.named("unlocked")[0]?.payload.eventId;
    expect(unlocked).toBeDefined();
    // The backend sends the same unlock again (it restarted and never saw our `unlocked`).
    await handler.handle("unlock", unlock);
    await until(() => published.length >= 2);
    expect(names()).toEqual(["unlocked", "command-rejected"]);
    expect(published[0]?.payload.eventId).toBe(unlocked);
    expect(published[1]?.payload).toMatchObject({ reason: "replayed", sessionId: "h-1" });
    expect(h.mechanism.openSessions).toEqual([500]);
  });

  it("a replayed unlock of an ended session resends too; a replay of an unlock that opened nothing does not", async () => {
    const { h, handler, names, published } = await rig();
    const unlock = signedUnlock("h-2");
    await handler.handle("unlock", unlock);
    h.mechanism.select({ selection: "A1" });
    await until(() => h.named("session-ended").length === 1);
    await handler.handle("unlock", unlock);
    await until(() => published.length >= 5);
    expect(names()).toEqual(["unlocked", "vend-started", "vended", "session-ended", "command-rejected"]);
    expect(h.mechanism.openSessions).toEqual([500]);

    // Refused (wrong currency), remembered, then replayed: this machine never had that session, nothing to resend.
    const env = envelope();
    const body: Record<string, unknown> = { ...env, sessionId: "h-3", budgetMinor: 500, currency: "SEK" };
    body.signature = signCommand(key, machineId, "unlock", body);
    const foreign = Buffer.from(JSON.stringify(body));
    await handler.handle("unlock", foreign);
    await handler.handle("unlock", foreign);
    await until(() => published.length >= 7);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(names().slice(5)).toEqual(["command-rejected", "command-rejected"]);
    expect(published.slice(5).map((event) => (event.payload as { reason?: string }).reason)).toEqual([
      "invalid",
      "replayed",
    ]);
  });

  it("a forged ack (unsigned, or signed with another key) is refused and drops no unacknowledged event", async () => {
    const { h, handler, published } = await rig();
    await handler.handle("unlock", signedUnlock("h-ack"));
    await until(() => h.named("unlocked").length === 1);
    const unlocked = h.named("unlocked")[0]?.payload.eventId ?? "";
    expect(h.journal.state.outbox.has(unlocked)).toBe(true);
    const unsigned = { ...envelope(), eventIds: [unlocked] };
    await handler.handle("ack", Buffer.from(JSON.stringify(unsigned)));
    const wrongKey: Record<string, unknown> = { ...envelope(), eventIds: [unlocked] };
    wrongKey.signature = signCommand("44".repeat(32), machineId, "ack", wrongKey);
    await handler.handle("ack", Buffer.from(JSON.stringify(wrongKey)));
    await until(() => published.filter((event) => event.name === "command-rejected").length >= 2);
    expect(h.journal.state.outbox.has(unlocked)).toBe(true);
    // The genuine ack still works.
    const genuine: Record<string, unknown> = { ...envelope(), eventIds: [unlocked] };
    genuine.signature = signCommand(key, machineId, "ack", genuine);
    await handler.handle("ack", Buffer.from(JSON.stringify(genuine)));
    expect(h.journal.state.outbox.has(unlocked)).toBe(false);
  });

  it("a forged config with new prices is refused and the prices do not change", async () => {
    const { h, handler, published } = await rig();
    const before = JSON.stringify(h.session.catalog);
    const cheap = { currency: "EUR", products: { A1: { name: "Free tea", sku: "T", priceMinor: 1 } } };
    const forged: Record<string, unknown> = { ...envelope(), catalog: cheap };
    forged.signature = signCommand("44".repeat(32), machineId, "config", forged);
    await handler.handle("config", Buffer.from(JSON.stringify(forged)));
    const unsigned = { ...envelope(), catalog: cheap };
    await handler.handle("config", Buffer.from(JSON.stringify(unsigned)));
    await until(() => published.filter((event) => event.name === "command-rejected").length >= 2);
    expect(JSON.stringify(h.session.catalog)).toBe(before);
    const genuine: Record<string, unknown> = { ...envelope(), catalog: cheap };
    genuine.signature = signCommand(key, machineId, "config", genuine);
    await handler.handle("config", Buffer.from(JSON.stringify(genuine)));
    expect(h.session.catalog.products.A1?.priceMinor).toBe(1);
  });

  it("an unsigned cancel does not end the open session; an unsigned ping gets no pong", async () => {
    const { h, handler, published, names } = await rig();
    await handler.handle("unlock", signedUnlock("h-cancel"));
    await handler.handle(
      "cancel",
      Buffer.from(JSON.stringify({ ...envelope(), sessionId: "h-cancel", reason: "operator" })),
    );
    await handler.handle("ping", Buffer.from(JSON.stringify(envelope())));
    await until(() => published.filter((event) => event.name === "command-rejected").length >= 2);
    expect(h.journal.state.session?.sessionId).toBe("h-cancel");
    expect(names()).not.toContain("pong");
    expect(names()).not.toContain("session-ended");
  });

  it("a ping is answered with whether the machine sells now and why not (issue 15 defect 1)", async () => {
    const { h, handler, published } = await rig();
    const ping = () => {
      const body: Record<string, unknown> = { ...envelope() };
      body.signature = signCommand(key, machineId, "ping", body);
      return Buffer.from(JSON.stringify(body));
    };
    const pongs = () => published.filter((event) => event.name === "pong").map((event) => event.payload);
    await handler.handle("ping", ping());
    await until(() => pongs().length === 1);
    expect(pongs()[0]).toMatchObject({ inService: true, outOfService: null });
    h.mechanism.emit("link", "down", "the VMC set the reader DISABLED");
    await until(() => h.named("fault").length === 1);
    await handler.handle("ping", ping());
    await until(() => pongs().length === 2);
    expect(pongs()[1]).toMatchObject({
      inService: false,
      outOfService: { code: "hardware-link-down", message: "the VMC set the reader DISABLED" },
    });
    h.mechanism.emit("link", "up");
    await until(() => h.named("in-service").length === 1);
    await handler.handle("ping", ping());
    await until(() => pongs().length === 3);
    expect(pongs()[2]).toMatchObject({ inService: true, outOfService: null });
  });

  function signed(name: string, fields: Record<string, unknown>, env = envelope()) {
    const body: Record<string, unknown> = { ...env, ...fields };
    body.signature = signCommand(key, machineId, name, body);
    return Buffer.from(JSON.stringify(body));
  }
  const reasons = (published: StoredEvent[]) =>
    published
      .filter((event) => event.name === "command-rejected")
      .map((event) => (event.payload as { reason?: string }).reason);

  it("a ping or an ack delivered twice is answered once, then refused as replayed (remembered in memory)", async () => {
    const { h, handler, published, names } = await rig();
    const ping = signed("ping", {});
    await handler.handle("ping", ping);
    await handler.handle("ping", ping);
    await until(() => published.length >= 2);
    expect(names()).toEqual(["pong", "command-rejected"]);
    expect(published[0]?.payload).toMatchObject({ commandId: JSON.parse(ping.toString()).commandId, sessionId: null });
    expect(reasons(published)).toEqual(["replayed"]);
    // Not journaled as seen: ping and ack ids are kept in memory only.
    expect(h.journal.state.seenCommands.has(JSON.parse(ping.toString()).commandId)).toBe(false);

    const ack = signed("ack", { eventIds: ["e-none"] });
    await handler.handle("ack", ack);
    await handler.handle("ack", ack);
    await until(() => reasons(published).length >= 2);
    expect(reasons(published)).toEqual(["replayed", "replayed"]);
  });

  it("a second delivery of a command still being handled is refused as replayed, not handled twice", async () => {
    const { h, handler, published } = await rig();
    const unlock = signedUnlock("h-dup");
    await Promise.all([handler.handle("unlock", unlock), handler.handle("unlock", unlock)]);
    await until(() => reasons(published).length >= 1);
    expect(reasons(published)).toEqual(["replayed"]);
    expect(h.mechanism.openSessions).toEqual([500]);
  });

  it("a command issued up to 5 minutes ahead of the machine's clock is accepted, further ahead refused", async () => {
    const { handler, published, names } = await rig();
    await handler.handle("ping", signed("ping", {}, envelope(Date.now() + 4 * 60_000)));
    await until(() => published.length >= 1);
    expect(names()).toEqual(["pong"]);
    await handler.handle("ping", signed("ping", {}, envelope(Date.now() + 6 * 60_000, 60 * 60_000)));
    await until(() => published.length >= 2);
    expect(names()).toEqual(["pong", "command-rejected"]);
  });

  it("an unknown command is refused with its name cut to 64 characters", async () => {
    const { handler, published } = await rig();
    await handler.handle("x".repeat(100), Buffer.from("{}"));
    await until(() => published.length >= 1);
    expect(published[0]?.payload).toMatchObject({ command: "x".repeat(64), reason: "invalid" });
  });

  it("a config is saved for the next start and remembered; refused while a session is open, and then not saved", async () => {
    const saved: unknown[] = [];
    const { h, handler, published } = await rig({
      saveCatalog: async (catalog) => {
        saved.push(catalog);
      },
    });
    const catalog = { currency: "EUR", products: { A1: { name: "Tea", sku: "T", priceMinor: 90 } } };
    const config = signed("config", { catalog });
    await handler.handle("config", config);
    expect(saved).toEqual([catalog]);
    expect(h.journal.state.seenCommands.has(JSON.parse(config.toString()).commandId)).toBe(true);
    await handler.handle("unlock", signedUnlock("h-config"));
    await handler.handle(
      "config",
      signed("config", { catalog: { ...catalog, products: { A1: { name: "Tea", sku: "T", priceMinor: 95 } } } }),
    );
    await until(() => reasons(published).length >= 1);
    expect(reasons(published)).toEqual(["busy"]);
    expect(published.at(-1)?.payload).toMatchObject({ command: "config", sessionId: null });
    expect(saved).toHaveLength(1);
  });

  it("an applied config shows in the retained state: the catalog's hash, republished at once (what the bridge confirms)", async () => {
    let changes = 0;
    const h = await openSessionHarness({ onChange: () => changes++ });
    harnesses.push(h);
    const { handler } = await rig({ session: h.session, journal: h.journal });
    expect(h.session.view().catalogHash).toBe(catalogHash(h.session.catalog));
    const catalog = { currency: "EUR", products: { A1: { name: "Tea", sku: "T", priceMinor: 90 } } };
    const before = changes;
    await handler.handle("config", signed("config", { catalog }));
    expect(h.session.view().catalogHash).toBe(catalogHash(catalog));
    expect(h.session.view().catalogHash).toMatch(/^[0-9a-f]{16}$/);
    expect(changes).toBeGreaterThan(before);
  });

  it("a refused unlock names its session and command in the rejection", async () => {
    const { handler, published } = await rig();
    await handler.handle("unlock", signedUnlock("h-open"));
    const second = signedUnlock("h-second");
    await handler.handle("unlock", second);
    await until(() => reasons(published).length >= 1);
    expect(published.at(-1)?.payload).toMatchObject({
      command: "unlock",
      sessionId: "h-second",
      commandId: JSON.parse(second.toString()).commandId,
    });
  });

  it("remembers the last 1,000 ping ids: the oldest is forgotten once a 1,001st arrives", async () => {
    const { handler, published } = await rig();
    const pings = Array.from({ length: 1_001 }, () => signed("ping", {}));
    for (const ping of pings) await handler.handle("ping", ping);
    await until(() => published.length >= 1_001);
    // The second is still known; the first was forgotten, so it is answered again (a pong is harmless to repeat).
    await handler.handle("ping", pings[1] ?? Buffer.alloc(0));
    await handler.handle("ping", pings[0] ?? Buffer.alloc(0));
    await until(() => published.length >= 1_003);
    expect(published.slice(1_001).map((event) => event.name)).toEqual(["command-rejected", "pong"]);
  }, 60_000);

  it("a command whose handling failed is handled again when it is delivered again", async () => {
    let failures = 1;
    const saved: unknown[] = [];
    const { handler, published } = await rig({
      saveCatalog: async (catalog) => {
        if (failures-- > 0) throw new Error("ENOSPC: no space left on device");
        saved.push(catalog);
      },
    });
    const config = signed("config", {
      catalog: { currency: "EUR", products: { A1: { name: "T", sku: "T", priceMinor: 5 } } },
    });
    await handler.handle("config", config);
    expect(saved).toHaveLength(0);
    await handler.handle("config", config);
    expect(saved).toHaveLength(1);
    expect(reasons(published)).toEqual([]);
  });

  it("logs what it does: accepted, refused with the reason, catalog updated, replayed unlock resent, failures", async () => {
    const { logger, lines } = capturedLogs();
    const { h, handler } = await rig({ logger });
    const config = signed("config", {
      catalog: { currency: "EUR", products: { A1: { name: "Tea", sku: "T", priceMinor: 90 } } },
    });
    await handler.handle("config", config);
    const unlock = signedUnlock("h-log");
    await handler.handle("unlock", unlock);
    await handler.handle("unlock", unlock);
    // Refused for another reason than a replay: nothing is resent.
    const unsigned = { ...envelope(), sessionId: "h-log", budgetMinor: 500, currency: "EUR" };
    await handler.handle("unlock", Buffer.from(JSON.stringify(unsigned)));
    await h.journal.close();
    await handler.handle("ping", signed("ping", {}));
    await new Promise((resolve) => setImmediate(resolve));
    const seen = lines
      .filter((line) => line.module === "commands")
      .map((line) => [line.level, line.msg, line.command, line.reason, line.products, line.sessionId]);
    expect(seen).toEqual([
      ["debug", "command accepted", "config", undefined, undefined, undefined],
      ["info", "catalog updated", undefined, undefined, 1, undefined],
      ["debug", "command accepted", "unlock", undefined, undefined, undefined],
      ["info", "replayed unlock of a session of ours: resending events", undefined, undefined, undefined, "h-log"],
      ["warn", "command refused", "unlock", "replayed", undefined, undefined],
      ["warn", "command refused", "unlock", "invalid", undefined, undefined],
      ["debug", "command accepted", "ping", undefined, undefined, undefined],
      ["error", "command handling failed", "ping", undefined, undefined, undefined],
    ]);
  });

  it("never throws: a command arriving after the journal closed is dropped (and logged)", async () => {
    const { h, handler } = await rig();
    await h.journal.close();
    await expect(handler.handle("ping", signed("ping", {}))).resolves.toBeUndefined();
  });
});
