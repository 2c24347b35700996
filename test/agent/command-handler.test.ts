import { afterEach, describe, expect, it } from "vitest";
import { CommandHandler } from "../../agent/commands/command-handler.ts";
import { Outbox } from "../../agent/events/outbox.ts";
import type { StoredEvent } from "../../agent/journal/journal-state.ts";
import { systemClock } from "../../platform/clock.ts";
import { silentLogger } from "../../platform/logger.ts";
import { signCommand } from "../../protocol/signing.ts";
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

async function rig() {
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
});
