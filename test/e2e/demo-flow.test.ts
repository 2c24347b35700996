import { describe, expect, it } from "vitest";
import { flowMessage } from "../../demo/flow-feed.ts";
import type { LogLine } from "../../demo/process-tree.ts";

/** The demo's flow view names what happened (issue 21 item 11): which SEQR call, for how much, and the vend's result. */

const line = (msg: string, fields: Record<string, unknown>): LogLine => ({
  process: "bridge",
  level: "info",
  msg,
  time: 0,
  fields,
});

describe("flow view messages", () => {
  it("SEQR call done names the call and what SEQR says about it", () => {
    const lookups: string[] = [];
    const message = flowMessage(line("SEQR call done", { kind: "commitReservation", sessionId: "s-1" }), (call) => {
      lookups.push(call);
      return "invoice 42: 3.50 EUR paid";
    });
    expect(message).toBe("SEQR commitReservation done: invoice 42: 3.50 EUR paid");
    expect(lookups).toEqual(["commitReservation"]);
    expect(flowMessage(line("SEQR call done", { kind: "cancelInvoice" }))).toBe("SEQR cancelInvoice done");
  });

  it("vend result names the result and its evidence", () => {
    expect(flowMessage(line("vend result", { result: "delivered", evidence: "vend-success" }))).toBe(
      "vend result: delivered (vend-success)",
    );
    expect(flowMessage(line("vend result", { result: "failed" }))).toBe("vend result: failed");
    expect(flowMessage(line("unlocked", { sessionId: "s" }))).toBe("unlocked");
  });
});
