import { z } from "zod";
import { catalog, catalogHashText, currencyCode, selectionId } from "./catalog.ts";

/**
 * The payloads of the MQTT contract v1, as zod schemas shared by agent and bridge. MQTT 3.1.1 is the floor (aedes 1.x),
 * so expiry and correlation travel in the payload. Amounts are integer minor units with an ISO 4217 currency.
 * The contract document (docs/mqtt-contract.md) is generated from these schemas: `npm run docs:contract`.
 */

const id = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9._:-]+$/, "must be 1-64 characters of A-Z a-z 0-9 . _ : -");
const epochMs = z.number().int().nonnegative();
const minor = z.number().int().nonnegative();

// ---------------------------------------------------------------- availability and state (retained, agent -> backend)

export const availability = z.strictObject({
  state: z.enum(["online", "offline"]),
  bootId: id.describe("Unique per start of the agent"),
  bootSeq: z
    .number()
    .int()
    .nonnegative()
    .describe("Start counter kept in the journal: a later start has a larger bootSeq"),
  ts: epochMs,
});
export type Availability = z.infer<typeof availability>;

export const screenName = z.enum([
  "starting",
  "idle",
  "payment-pending",
  "pay-for-selection",
  "choose-product",
  "dispensing",
  "thank-you",
  "vend-failed",
  "out-of-service",
]);
export type ScreenName = z.infer<typeof screenName>;

export const machineState = z.strictObject({
  screen: screenName,
  session: z
    .strictObject({
      sessionId: id,
      phase: z.enum(["payment-pending", "unlocked", "vending", "ending"]),
      budgetMinor: minor,
      spentMinor: minor,
      currency: currencyCode,
    })
    .nullable(),
  hardware: z.strictObject({ driver: z.string(), link: z.enum(["up", "down"]) }),
  lastFault: z.strictObject({ code: z.string(), message: z.string(), ts: epochMs }).nullable(),
  pendingSelection: z
    .strictObject({
      selection: selectionId,
      priceMinor: z.number().int().positive().describe("The price the machine asks for this one product"),
      currency: currencyCode,
      expiresAt: epochMs.describe("The machine stops holding the selection at this time"),
    })
    .optional()
    .describe(
      "Selection first (MDB always idle): the customer chose a product before paying and the machine holds the request; " +
        "a purchase started now reserves exactly this price. Absent when nothing is held.",
    ),
  catalogHash: catalogHashText
    .optional()
    .describe(
      "The catalog the machine sells with now (protocol/catalog.ts catalogHash): once a `config` is applied, its hash " +
        "shows here, which is how the backend knows the machine took it. Absent from agents older than this field.",
    ),
  versions: z.strictObject({ agent: z.string(), contract: z.literal(1) }),
  ts: epochMs,
});
export type MachineState = z.infer<typeof machineState>;

// ---------------------------------------------------------------- commands (backend -> agent, QoS 1, not retained)

/**
 * Every command is signed: on an external broker (not trusted by the design) a forged `ack` would drop unacknowledged
 * `vended` events, a forged `cancel` would end a paid session and a forged `config` would change prices.
 */
const signature = z
  .string()
  .regex(/^[0-9a-f]{64}$/)
  .describe("HMAC-SHA256 (hex, lower case) with the machine's key over the canonical command; see protocol/signing.ts");

const commandEnvelope = {
  commandId: id,
  issuedAt: epochMs,
  expiresAt: epochMs.describe("The agent refuses the command after this time (command-rejected, reason expired)"),
  signature,
};

export const paymentPendingCommand = z.strictObject({
  ...commandEnvelope,
  sessionId: id,
  amountMinor: minor.describe("The reservation the customer is asked to confirm"),
  currency: currencyCode,
});

export const unlockCommand = z.strictObject({
  ...commandEnvelope,
  sessionId: id,
  budgetMinor: z
    .number()
    .int()
    .positive()
    .describe("Reserved amount: the agent never approves vends above it in total"),
  currency: currencyCode,
  mode: z.enum(["single-vend", "multi-vend"]).optional().describe("Overrides the machine's configured session mode"),
});

export const cancelCommand = z.strictObject({
  ...commandEnvelope,
  sessionId: id,
  reason: z.enum(["customer-cancelled", "payment-timeout", "unlock-timeout", "operator", "system"]),
});

export const configCommand = z.strictObject({
  ...commandEnvelope,
  catalog,
});

export const pingCommand = z.strictObject({ ...commandEnvelope });

export const ackCommand = z.strictObject({
  ...commandEnvelope,
  eventIds: z
    .array(id)
    .min(1)
    .max(100)
    .describe("Events the backend has stored durably; the agent stops resending them"),
});

export const commandSchemas = {
  "payment-pending": paymentPendingCommand,
  unlock: unlockCommand,
  cancel: cancelCommand,
  config: configCommand,
  ping: pingCommand,
  ack: ackCommand,
} as const;
export type CommandName = keyof typeof commandSchemas;
export type CommandPayload<N extends CommandName> = z.infer<(typeof commandSchemas)[N]>;
/** The commands the bridge signs and the agent verifies: all of them (issue 15). */
export const signedCommands: readonly CommandName[] = Object.keys(commandSchemas) as CommandName[];

// ---------------------------------------------------------------- events (agent -> backend, QoS 1, not retained)

const eventEnvelope = {
  eventId: id.describe("Unique; the backend deduplicates on it"),
  seq: z.number().int().nonnegative().describe("Per-machine sequence, kept in the journal across restarts"),
  ts: epochMs,
};

const evidence = z.enum([
  "vend-success",
  "drop-sensor",
  "home-cycle",
  "none",
  "vend-failure",
  "jam",
  "link-lost",
  "restart",
]);

export const unlockedEvent = z.strictObject({
  ...eventEnvelope,
  sessionId: id,
  commandId: id,
  budgetMinor: minor,
  currency: currencyCode,
});

export const vendStartedEvent = z.strictObject({
  ...eventEnvelope,
  sessionId: id,
  vendId: id,
  selection: selectionId,
  priceMinor: minor,
  currency: currencyCode,
});

export const vendedEvent = z.strictObject({
  ...eventEnvelope,
  sessionId: id,
  vendId: id,
  selection: selectionId,
  sku: z.string(),
  name: z.string(),
  priceMinor: minor,
  currency: currencyCode,
  evidence,
});

export const vendFailedEvent = z.strictObject({
  ...eventEnvelope,
  sessionId: id,
  vendId: id,
  selection: selectionId,
  priceMinor: minor,
  currency: currencyCode,
  outcome: z.enum(["denied", "not-delivered", "jammed"]),
  evidence,
  detail: z.string().max(200).optional(),
});

/** Outcome not known (reset, unplug, crash mid-vend): never billed automatically, flagged for reconciliation. */
export const vendUnknownEvent = z.strictObject({
  ...eventEnvelope,
  sessionId: id,
  vendId: id,
  selection: selectionId,
  priceMinor: minor,
  currency: currencyCode,
  evidence,
  detail: z.string().max(200).optional(),
});

export const sessionEndedEvent = z.strictObject({
  ...eventEnvelope,
  sessionId: id,
  reason: z.enum([
    "single-vend-done",
    "budget-spent",
    "customer-done",
    "idle-timeout",
    "cancelled",
    "payment-timeout",
    "fault",
    "shutdown",
  ]),
  vendedCount: z
    .number()
    .int()
    .nonnegative()
    .describe("Number of `vended` events of the session: the backend bills only when it holds them all"),
  vendedTotalMinor: minor,
  unknownCount: z.number().int().nonnegative(),
  currency: currencyCode,
});

export const faultEvent = z.strictObject({
  ...eventEnvelope,
  sessionId: id.nullable(),
  code: z.string().max(64),
  message: z.string().max(300),
  outOfService: z.boolean(),
});

export const commandRejectedEvent = z.strictObject({
  ...eventEnvelope,
  sessionId: id.nullable(),
  commandId: z.string().max(64).nullable(),
  command: z.string().max(64),
  reason: z.enum(["invalid", "bad-signature", "expired", "replayed", "busy", "unknown-session", "out-of-service"]),
  detail: z.string().max(300),
});

/** Why a machine does not sell: the fault that took it out of service (code as in its `fault` event). */
const outOfServiceCause = z.strictObject({ code: z.string().max(64), message: z.string().max(300) });

export const pongEvent = z.strictObject({
  ...eventEnvelope,
  sessionId: z.null(),
  commandId: id,
  inService: z
    .boolean()
    .optional()
    .describe("The machine can sell now: the backend clears any unavailable flag it holds for it (issue 15)"),
  outOfService: outOfServiceCause.nullable().optional().describe("Why it cannot sell (null when in service)"),
});

/**
 * The cause of an earlier `fault {outOfService: true}` is gone (the VMC enabled the reader again, the serial link is
 * back): the machine sells again. No out-of-service flag may outlive its cause.
 */
export const inServiceEvent = z.strictObject({
  ...eventEnvelope,
  sessionId: z.null(),
  code: z.string().max(64).describe("The `code` of the fault whose cause is gone"),
});

export const eventSchemas = {
  unlocked: unlockedEvent,
  "vend-started": vendStartedEvent,
  vended: vendedEvent,
  "vend-failed": vendFailedEvent,
  "vend-unknown": vendUnknownEvent,
  "session-ended": sessionEndedEvent,
  fault: faultEvent,
  "command-rejected": commandRejectedEvent,
  pong: pongEvent,
  "in-service": inServiceEvent,
} as const;
export type EventName = keyof typeof eventSchemas;
export type EventPayload<N extends EventName> = z.infer<(typeof eventSchemas)[N]>;
export type AnyEvent = { [N in EventName]: { name: N; payload: EventPayload<N> } }[EventName];
export type AnyCommand = { [N in CommandName]: { name: N; payload: CommandPayload<N> } }[CommandName];

export function isCommandName(name: string): name is CommandName {
  return Object.hasOwn(commandSchemas, name);
}

export function isEventName(name: string): name is EventName {
  return Object.hasOwn(eventSchemas, name);
}

/** Parses a raw MQTT payload as JSON and validates it; never throws. */
export function decodePayload<S extends z.ZodType>(
  schema: S,
  raw: Buffer | string,
  maxBytes = 16_384,
): { ok: true; value: z.output<S> } | { ok: false; error: string } {
  const length = typeof raw === "string" ? Buffer.byteLength(raw) : raw.length;
  if (length > maxBytes) return { ok: false, error: `payload of ${length} bytes is over the ${maxBytes}-byte limit` };
  let json: unknown;
  try {
    json = JSON.parse(raw.toString());
  } catch {
    return { ok: false, error: "payload is not JSON" };
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    return {
      ok: false,
      error: parsed.error.issues.map((issue) => `${issue.path.join(".") || "(payload)"}: ${issue.message}`).join("; "),
    };
  }
  return { ok: true, value: parsed.data };
}
