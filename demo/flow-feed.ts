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

export class FlowFeed {
  readonly #lines: FlowLine[] = [];
  readonly #clients = new Set<ServerResponse>();

  add(line: LogLine): void {
    if (line.level === "debug" || line.level === "trace" || !line.msg) return;
    const detail = interestingFields
      .filter((field) => line.fields[field] !== undefined && typeof line.fields[field] !== "object")
      .map((field) => `${field}=${String(line.fields[field])}`)
      .join(" ");
    const flowLine: FlowLine = { process: line.process, level: line.level, msg: line.msg, detail, time: line.time };
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
