import type { ServerResponse } from "node:http";
import type { LogLine } from "./process-tree.ts";

/**
 * "The flow as it happens": log lines of every part (bridge, agents, sandbox) as one feed for the demo page, over
 * server-sent events. Keeps the last lines so a page opened late still sees how the purchase started.
 */
const interestingFields = [
  "machineId",
  "sessionId",
  "invoiceReference",
  "state",
  "from",
  "to",
  "selection",
  "outcome",
  "errorCode",
  "status",
  "amount",
  "reason",
] as const;

export interface FlowLine {
  process: string;
  level: string;
  msg: string;
  detail: string;
  time: number;
}

/** What the demo can tell about a SEQR call the bridge reports done: the SEQR side's view of it (invoice, amount). */
export type SeqrCallLookup = (call: string) => string | undefined;

/**
 * The line as a person reads it: a few log messages name too little on their own ("SEQR call done", "vend result"),
 * so the call, its amount and the vend's result go into the message itself.
 */
export function flowMessage(line: LogLine, seqrCall?: SeqrCallLookup): string {
  const field = (name: string) => {
    const value = line.fields[name];
    return typeof value === "string" || typeof value === "number" ? String(value) : undefined;
  };
  if (line.msg === "SEQR call done") {
    const call = field("kind") ?? "call";
    const about = seqrCall?.(call);
    return `SEQR ${call} done${about ? `: ${about}` : ""}`;
  }
  if (line.msg === "vend result") {
    const result = field("result") ?? "?";
    const evidence = field("evidence");
    return `vend result: ${result}${evidence ? ` (${evidence})` : ""}`;
  }
  return line.msg;
}

export class FlowFeed {
  readonly #lines: FlowLine[] = [];
  readonly #clients = new Set<ServerResponse>();
  readonly #seqrCall: SeqrCallLookup | undefined;

  constructor(options: { seqrCall?: SeqrCallLookup } = {}) {
    this.#seqrCall = options.seqrCall;
  }

  add(line: LogLine): void {
    if (line.level === "debug" || line.level === "trace" || !line.msg) return;
    const detail = interestingFields
      .filter((field) => line.fields[field] !== undefined && typeof line.fields[field] !== "object")
      .map((field) => `${field}=${String(line.fields[field])}`)
      .join(" ");
    const flowLine: FlowLine = {
      process: line.process,
      level: line.level,
      msg: flowMessage(line, this.#seqrCall),
      detail,
      time: line.time,
    };
    this.#lines.push(flowLine);
    if (this.#lines.length > 500) this.#lines.shift();
    for (const client of this.#clients) client.write(`data: ${JSON.stringify(flowLine)}\n\n`);
  }

  subscribe(response: ServerResponse): void {
    response.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-store",
      connection: "keep-alive",
    });
    for (const line of this.#lines) response.write(`data: ${JSON.stringify(line)}\n\n`);
    this.#clients.add(response);
    response.on("close", () => this.#clients.delete(response));
  }

  close(): void {
    for (const client of this.#clients) client.end();
    this.#clients.clear();
  }

  lines(): readonly FlowLine[] {
    return this.#lines;
  }
}
