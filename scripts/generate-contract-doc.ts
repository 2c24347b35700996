#!/usr/bin/env -S npx tsx
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { supportedCurrencies } from "../platform/money.ts";
import {
  availability,
  type CommandName,
  commandSchemas,
  type EventName,
  eventSchemas,
  machineState,
  signedCommands,
} from "../protocol/messages.ts";
import { canonicalJson, signCommand } from "../protocol/signing.ts";
import { defaultRootTopic, fleetFilters, machineTopics } from "../protocol/topics.ts";

/**
 * Generates docs/mqtt-contract.md from the zod schemas of protocol/: every topic, its direction, retain flag and QoS,
 * every payload's fields and JSON Schema, the signing rule with a worked example computed by protocol/signing.ts,
 * and the ack, dedupe and availability rules. A reseller drives the agent from their own backend with it.
 *
 *   npx tsx scripts/generate-contract-doc.ts           writes the document
 *   npx tsx scripts/generate-contract-doc.ts --check   exits 1 when the committed document is stale
 *
 * Deterministic (no dates, no randomness): test/contract/contract-doc.test.ts compares it with the committed file.
 */

export const contractDocPath = join(dirname(fileURLToPath(import.meta.url)), "..", "docs", "mqtt-contract.md");

type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  description?: string;
  enum?: unknown[];
  const?: unknown;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minItems?: number;
  maxItems?: number;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  additionalProperties?: JsonSchema | boolean;
  propertyNames?: JsonSchema;
};

const maxSafe = Number.MAX_SAFE_INTEGER;

function jsonSchemaOf(schema: z.ZodType): JsonSchema {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema) as JsonSchema & { $schema?: string };
  return rest;
}

function typeOf(schema: JsonSchema): string {
  if (schema.anyOf) return schema.anyOf.map(typeOf).join(" \\| ");
  if (schema.const !== undefined) return `\`${JSON.stringify(schema.const)}\``;
  if (schema.enum) return schema.enum.map((value) => `\`${JSON.stringify(value)}\``).join(", ");
  if (schema.type === "array") return `array of ${schema.items ? typeOf(schema.items) : "any"}`;
  if (schema.type === "object" && schema.additionalProperties && typeof schema.additionalProperties === "object") {
    return "object (map)";
  }
  return Array.isArray(schema.type) ? schema.type.join(" \\| ") : (schema.type ?? "any");
}

function constraintsOf(schema: JsonSchema): string {
  const parts: string[] = [];
  const target = schema.anyOf?.find((option) => option.type !== "null") ?? schema;
  if (target.pattern) parts.push(`pattern \`${target.pattern}\``);
  if (target.propertyNames?.pattern) parts.push(`keys: pattern \`${target.propertyNames.pattern}\``);
  if (target.minLength !== undefined || target.maxLength !== undefined) {
    parts.push(`length ${target.minLength ?? 0}-${target.maxLength ?? "∞"}`);
  }
  if (target.exclusiveMinimum !== undefined) parts.push(`> ${target.exclusiveMinimum}`);
  if (target.minimum !== undefined && target.minimum !== 0) parts.push(`>= ${target.minimum}`);
  if (target.minimum === 0) parts.push(">= 0");
  if (target.maximum !== undefined && target.maximum !== maxSafe) parts.push(`<= ${target.maximum}`);
  if (target.minItems !== undefined || target.maxItems !== undefined) {
    parts.push(`${target.minItems ?? 0}-${target.maxItems ?? "∞"} items`);
  }
  return parts.join(", ");
}

function fieldRows(schema: JsonSchema, prefix = ""): string[] {
  const rows: string[] = [];
  const required = new Set(schema.required ?? []);
  for (const [name, child] of Object.entries(schema.properties ?? {})) {
    const path = `${prefix}${name}`;
    const isCurrency = name === "currency";
    const description = [child.description ?? "", isCurrency ? `ISO 4217: ${supportedCurrencies.join(", ")}` : ""]
      .filter(Boolean)
      .join(". ");
    rows.push(
      `| \`${path}\` | ${typeOf(child)} | ${required.has(name) ? "yes" : "no"} | ${constraintsOf(child)} | ${description.replaceAll("|", "\\|")} |`,
    );
    const nested = child.anyOf?.find((option) => option.type === "object") ?? child;
    if (nested.type === "object" && nested.properties) rows.push(...fieldRows(nested, `${path}.`));
    if (nested.type === "object" && typeof nested.additionalProperties === "object") {
      const values = nested.additionalProperties;
      if (values.properties) rows.push(...fieldRows(values, `${path}.<key>.`));
    }
  }
  return rows;
}

function payloadSection(title: string, schema: z.ZodType, notes: string[] = []): string {
  const json = jsonSchemaOf(schema);
  return [
    `### ${title}`,
    "",
    ...notes.flatMap((note) => [note, ""]),
    "| field | type | required | constraints | meaning |",
    "|---|---|---|---|---|",
    ...fieldRows(json),
    "",
    "<details><summary>JSON Schema</summary>",
    "",
    "```json",
    JSON.stringify(json, null, 2),
    "```",
    "",
    "</details>",
    "",
  ].join("\n");
}

const commandNotes: Record<CommandName, string> = {
  "payment-pending": "The customer was asked to confirm the payment in the SEQR app: show the waiting screen.",
  unlock: "The payment is reserved: let the customer choose products up to `budgetMinor` in total. Signed.",
  cancel: "End the session (or the waiting screen) without vending. Signed.",
  config: "Replace the catalog (prices, planogram). Signed, because prices move money.",
  ping: "Liveness and service probe; the agent answers with a `pong` event carrying the same `commandId`. Signed.",
  ack: "The backend stored these events durably: the agent deletes them from its journal and stops resending. Signed.",
};

const eventNotes: Record<EventName, string> = {
  unlocked: "The agent accepted an `unlock` and opened the session with its budget.",
  "vend-started": "The vend mechanism was asked to vend a selection (price already checked against the budget).",
  vended: "A product was delivered (confirmed by `evidence`): the only event that is billed.",
  "vend-failed": "The vend was denied or not delivered: not billed.",
  "vend-unknown": "Outcome unknown (reset, power loss mid-vend): never billed automatically, never vended again.",
  "session-ended": "The session is over; bill exactly the `vended` events, whose count is `vendedCount`.",
  fault: "A hardware or software fault; `outOfService` says whether the machine stopped selling.",
  "command-rejected":
    "A command was refused (invalid, bad signature, expired, replayed, busy, ...): `reason` says why.",
  pong: "Answer to `ping`, with whether the machine can sell now (`inService`) and why not (`outOfService`).",
  "in-service":
    "The cause of an earlier `fault` with `outOfService: true` is gone: the machine sells again (clear its flag).",
};

function workedExample(): string {
  const keyHex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
  const machineId = "M0042";
  const unsigned = {
    commandId: "3b241101-e2bb-4255-8caf-4136c566a962",
    issuedAt: 1_767_225_600_000,
    expiresAt: 1_767_225_630_000,
    sessionId: "S-20260101-0001",
    budgetMinor: 2_000,
    currency: "EUR",
    mode: "multi-vend",
  };
  const signature = signCommand(keyHex, machineId, "unlock", unsigned);
  const signedText = `seqr-vend/v1\n${machineId}\nunlock\n${canonicalJson(unsigned)}`;
  return [
    "### Worked example",
    "",
    `Key (hex): \`${keyHex}\`, machine id \`${machineId}\`, command \`unlock\`, payload without its signature:`,
    "",
    "```json",
    JSON.stringify(unsigned, null, 2),
    "```",
    "",
    "Signed text (three lines and the canonical JSON, joined by `\\n`, no trailing newline):",
    "",
    "```text",
    signedText,
    "```",
    "",
    `HMAC-SHA256 of that text with the key's bytes, hex: \`${signature}\``,
    "",
    `Published on \`${machineTopics(defaultRootTopic, machineId).command("unlock")}\`:`,
    "",
    "```json",
    JSON.stringify({ ...unsigned, signature }),
    "```",
    "",
    "The same in a shell: `printf '%s' \"$SIGNED_TEXT\" | openssl dgst -sha256 -mac HMAC -macopt hexkey:$KEY`.",
    "",
  ].join("\n");
}

export function generateContractDoc(): string {
  const root = "<root>";
  const t = machineTopics(root, "<machineId>");
  const fleet = fleetFilters(root);
  const commandNames = Object.keys(commandSchemas) as CommandName[];
  const eventNames = Object.keys(eventSchemas) as EventName[];
  const topicRows = [
    `| \`${t.availability}\` | agent -> backend | yes (and the agent's LWT) | 1 | [availability](#availability) |`,
    `| \`${t.state}\` | agent -> backend | yes | 1 | [state](#state) |`,
    ...commandNames.map(
      (name) =>
        `| \`${t.command(name)}\` | backend -> agent | no | 1 | [${name}](#command-${name})${signedCommands.includes(name) ? " (signed)" : ""} |`,
    ),
    ...eventNames.map((name) => `| \`${t.event(name)}\` | agent -> backend | no | 1 | [${name}](#event-${name}) |`),
  ];

  return [
    "# MQTT contract v1",
    "",
    "<!-- Generated from protocol/*.ts by scripts/generate-contract-doc.ts (`npm run docs:contract`). Do not edit by hand: test/contract/contract-doc.test.ts fails when this file is stale. -->",
    "",
    "How a backend drives a seqr-vend agent (the software in the vending machine) over MQTT. The seqr-vend bridge is",
    "one such backend; a reseller can write their own from this document alone.",
    "",
    "## Transport",
    "",
    "- MQTT 3.1.1 (the floor; MQTT 5 brokers work too). Everything MQTT 5 would carry in properties (expiry, correlation)",
    "  is in the JSON payload. Payloads are UTF-8 JSON objects of at most 16 KiB; unknown fields are refused (strict).",
    `- \`<root>\` is \`${defaultRootTopic}\` unless configured otherwise; \`<machineId>\` is 1-32 characters of`,
    "  `A-Z a-z 0-9 . _ -` (never `+`, `#` or `/`): the same id is the QR code's token, the MQTT username and client id.",
    "- Amounts are integer minor units of an ISO 4217 currency (`150` EUR = 1.50 EUR). Times are epoch milliseconds.",
    "- QoS 1 everywhere: delivery is at least once, so both sides deduplicate by id (see below).",
    "- Additions within v1 (a backend validating strictly must be upgraded before agents use them): `state` may carry",
    "  `pendingSelection` and the screen `pay-for-selection`, only on machines configured to sell selection first",
    "  (`hardware.alwaysIdle`). A backend from before refuses those `state` messages (and keeps the machine's previous",
    "  state); purchases still work, reserving the customer's offer instead of the chosen product's price.",
    "",
    "## Topics",
    "",
    "| topic | direction | retained | QoS | payload |",
    "|---|---|---|---|---|",
    ...topicRows,
    "",
    "A backend subscribes to:",
    "",
    `- \`${fleet.availability}\` and \`${fleet.state}\` (QoS 1): retained, so a backend that starts learns every machine's`,
    "  last availability and state at once;",
    `- \`${fleet.events}\` (QoS 1). Several backend instances on one broker share the events with a shared subscription,`,
    `  \`$share/<group>/${fleet.events}\` (Mosquitto, EMQX and HiveMQ offer it to MQTT 3.1.1 clients too); a member`,
    "  that drops before its PUBACK may see an event redelivered to another member: deduplicate by `eventId`.",
    "",
    "## Rights of a machine on the broker (the bridge's embedded broker enforces them)",
    "",
    `- Publishes only \`${t.availability}\`, \`${t.state}\` and \`${t.event("<name>")}\` (events never retained).`,
    `- Subscribes only to \`${t.commandFilter}\` (or one named command below it).`,
    "- Its last will (LWT) must be its own availability topic; its client id must be its machine id (so that no machine",
    "  can take over another's session); `$SYS/` is the broker's. Anonymous clients are refused (CONNACK 5), wrong",
    "  credentials get CONNACK 4. A forbidden publish closes the connection (MQTT 3.1.1 has no negative PUBACK);",
    "  a forbidden subscription is answered with SUBACK 128.",
    "- Login: username = machine id and a per-machine password (stored hashed by the bridge), or a TLS client",
    "  certificate (signed by the configured CA) whose CN is the machine id or its configured `certificateCn`.",
    "",
    "## Connection and availability",
    "",
    "- The agent connects with a clean session (a broker-queued `unlock` from minutes ago would be a hazard) and",
    "  reconnects forever with jittered exponential backoff.",
    `- Its LWT is \`{"state":"offline", bootId, bootSeq, ts}\` on \`${t.availability}\`, retained, QoS 1. It publishes`,
    "  `online` (retained, QoS 1, same bootId and bootSeq) only once its hardware is up, and its retained state after.",
    "- `bootId` is unique per start; `bootSeq` grows by one per start (kept in the agent's journal). MQTT orders",
    "  messages per topic and connection only, so a dead connection's LWT can arrive after the next start's `online`.",
    "  A backend therefore applies, per machine:",
    "  1. a larger `bootSeq` than the last accepted one wins; a smaller one is stale and ignored, whatever its state;",
    "  2. same boot: `offline` is accepted (the LWT's `ts` is the time of CONNECT, older than the `online` it follows,",
    "     so `ts` cannot order them); an `online` is accepted only if its `ts` is newer than the boot's last `online`",
    "     (a reconnect), otherwise it is a redelivered copy;",
    "  3. same `bootSeq` but another `bootId` (the agent lost its journal): the later `ts` wins;",
    "  4. an empty retained payload deletes the machine's availability (decommissioned).",
    "- The bridge treats every machine as unavailable while its own link to the broker is down.",
    "",
    "## Commands (backend -> agent)",
    "",
    "- Published with QoS 1, never retained. Every command has `commandId` (unique, 1-64 characters), `issuedAt` and",
    "  `expiresAt`. The agent refuses, with a `command-rejected` event giving the reason: an invalid payload",
    "  (`invalid`), an expired command (`expired`: now > `expiresAt`), a `commandId` it has already executed",
    "  (`replayed`), a bad or missing signature on a signed command (`bad-signature`).",
    `- Signed commands: ${signedCommands.map((name) => `\`${name}\``).join(", ")}. They carry \`signature\` = hex`,
    "  HMAC-SHA256, with the machine's own key (32-64 bytes, configured as hex on both sides), of the text",
    "  `seqr-vend/v1\\n<machineId>\\n<command name>\\n<canonical JSON of the payload without signature>`. Canonical",
    "  JSON: keys sorted by code point at every level, no whitespace, fields whose value is undefined left out. The",
    "  machine id and command name inside the signed text keep a signature from being replayed on another machine or",
    "  as another command; `commandId` and `expiresAt` are inside the payload and so inside the signature.",
    "",
    workedExample(),
    "## Events (agent -> backend) and acknowledgements",
    "",
    "- Published with QoS 1, never retained. Every event has `eventId` (unique per machine), `seq` (per-machine",
    "  counter kept across restarts) and `ts`; session events carry `sessionId`.",
    "- The agent writes every event to its journal before publishing it and resends every unacknowledged event after",
    "  each (re)connect and periodically while connected, until the backend acknowledges it.",
    "- The backend acknowledges with `cmd/ack` `{eventIds: [...]}` (1-100 ids, batched), and only once the event is",
    "  stored durably. An event that could not be stored is not acknowledged: the agent resends it.",
    "- The backend deduplicates by (`machineId`, `eventId`): a duplicate is not processed again but is acknowledged",
    "  again (the agent evidently missed the first ack). Events of one machine are processed in arrival order.",
    "- An event that fails validation is dropped and logged, not acknowledged.",
    "- Billing rule: only `vended` events are billed; the backend commits the reservation once it holds as many",
    "  `vended` events of the session as `session-ended.vendedCount` says.",
    "",
    "## Payloads",
    "",
    payloadSection("availability", availability, [`Topic \`${t.availability}\`, retained.`]),
    payloadSection("state", machineState, [
      `Topic \`${t.state}\`, retained; republished after every change and reconnect.`,
    ]),
    ...commandNames.map((name) =>
      payloadSection(`command ${name}`, commandSchemas[name], [`Topic \`${t.command(name)}\`. ${commandNotes[name]}`]),
    ),
    ...eventNames.map((name) =>
      payloadSection(`event ${name}`, eventSchemas[name], [`Topic \`${t.event(name)}\`. ${eventNotes[name]}`]),
    ),
  ]
    .join("\n")
    .replace(/\n{3,}/g, "\n\n")
    .trimEnd()
    .concat("\n");
}

const isMain = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain) {
  const generated = generateContractDoc();
  if (process.argv.includes("--check")) {
    let committed = "";
    try {
      committed = readFileSync(contractDocPath, "utf8");
    } catch {
      // missing counts as stale
    }
    if (committed !== generated) {
      console.error(`${contractDocPath} is stale: run npx tsx scripts/generate-contract-doc.ts`);
      process.exitCode = 1;
    }
  } else {
    writeFileSync(contractDocPath, generated);
    console.log(`wrote ${contractDocPath}`);
  }
}
