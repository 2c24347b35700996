/**
 * Pieces of the command round-trip benches (bench/command-roundtrip.ts, bench/fleet-commands.ts): the latency
 * histogram and a command payload as the bridge sends it (protocol/messages.ts's envelope, signed with the machine's
 * key when asked).
 */
import { randomUUID } from "node:crypto";
import * as hdr from "hdr-histogram-js";
import { signCommand } from "../protocol/signing.ts";

/** Microseconds, up to a minute, 3 significant digits. */
export function histogram() {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
}

export type Histogram = ReturnType<typeof histogram>;

/** A command with a fresh id, valid 30 s; signed for `signFor` (protocol/signing.ts) when given. */
export function commandPayload(extra: object, signFor?: { key: string; machineId: string; name: string }) {
  const now = Date.now();
  const body: Record<string, unknown> = {
    commandId: randomUUID(),
    issuedAt: now,
    expiresAt: now + 30_000,
    ...extra,
  };
  if (signFor) body.signature = signCommand(signFor.key, signFor.machineId, signFor.name, body);
  return body as { commandId: string } & Record<string, unknown>;
}
