import { z } from "zod";
import { seqrResultCodes } from "../seqr/result-codes.ts";
import { type SeqrOperation, seqrOperations } from "../seqr/seqr-errors.ts";

/**
 * Faults the sandbox injects on request, per SOAP call or per invoice: what SEQR does on a bad day. A rule matches
 * an operation (or any), optionally one invoice (by invoiceReference, or clientInvoiceId for sendInvoice), and fires
 * `times` times (default once). `when: "after"` applies the call first and then answers with the fault: the case
 * where SEQR acted but the reseller never learns it (a commit that went through behind a 500).
 */

const operation = z.enum(seqrOperations);

const effect = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("latency"), ms: z.number().int().min(0).max(600_000) }),
  z.strictObject({ kind: z.literal("http-status"), status: z.number().int().min(400).max(599).default(500) }),
  z.strictObject({
    kind: z.literal("soap-fault"),
    faultCode: z.enum(["Server", "Client"]).default("Server"),
    faultString: z.string().max(500).default("Injected fault"),
  }),
  z.strictObject({
    kind: z.literal("result-code"),
    code: z
      .number()
      .int()
      .refine((code) => code !== 0 && Object.values(seqrResultCodes).includes(code as never), {
        message: "must be a documented non-zero SEQR result code (e.g. 90 SYSTEM_ERROR, 94 SERVICE_UNAVAILABLE)",
      }),
  }),
  z.strictObject({ kind: z.literal("garbage") }),
]);

export const callFaultSchema = z.strictObject({
  operation: operation.optional(),
  invoiceReference: z.string().optional(),
  clientInvoiceId: z.string().optional(),
  times: z.union([z.number().int().positive(), z.literal("always")]).default(1),
  when: z.enum(["before", "after"]).default("before"),
  effect,
});

export const notificationFaultSchema = z.strictObject({
  invoiceReference: z.string().optional(),
  trigger: z.enum(["confirm", "cancel", "reversal", "expiry"]).optional(),
  mode: z.enum(["drop", "delay", "twice"]),
  delayMs: z.number().int().min(0).max(600_000).default(5_000),
  times: z.union([z.number().int().positive(), z.literal("always")]).default(1),
});

export type CallFault = z.infer<typeof callFaultSchema>;
export type CallFaultInput = z.input<typeof callFaultSchema>;
export type NotificationFault = z.infer<typeof notificationFaultSchema>;
export type NotificationFaultInput = z.input<typeof notificationFaultSchema>;

interface Armed<T> {
  id: number;
  rule: T;
  remaining: number | "always";
}

export class FaultInjector {
  private calls: Armed<CallFault>[] = [];
  private notifications: Armed<NotificationFault>[] = [];
  private nextId = 1;

  /** Arms a call fault; returns its id (for `remove`). Throws a ZodError on a bad rule. */
  addCallFault(input: CallFaultInput): number {
    const rule = callFaultSchema.parse(input);
    const id = this.nextId++;
    this.calls.push({ id, rule, remaining: rule.times });
    return id;
  }

  addNotificationFault(input: NotificationFaultInput): number {
    const rule = notificationFaultSchema.parse(input);
    const id = this.nextId++;
    this.notifications.push({ id, rule, remaining: rule.times });
    return id;
  }

  remove(id: number): boolean {
    const before = this.calls.length + this.notifications.length;
    this.calls = this.calls.filter((armed) => armed.id !== id);
    this.notifications = this.notifications.filter((armed) => armed.id !== id);
    return this.calls.length + this.notifications.length < before;
  }

  clear(): void {
    this.calls = [];
    this.notifications = [];
  }

  list(): { calls: Array<CallFault & { id: number; remaining: number | "always" }>; notifications: unknown[] } {
    return {
      calls: this.calls.map(({ id, rule, remaining }) => ({ ...rule, id, remaining })),
      notifications: this.notifications.map(({ id, rule, remaining }) => ({ ...rule, id, remaining })),
    };
  }

  /** The call faults that apply to this call, consumed (a latency and an error may both apply). */
  takeCallFaults(call: {
    operation: SeqrOperation;
    invoiceReference?: string | undefined;
    clientInvoiceId?: string | undefined;
  }): CallFault[] {
    const matched = this.calls.filter(
      ({ rule }) =>
        (rule.operation === undefined || rule.operation === call.operation) &&
        (rule.invoiceReference === undefined || rule.invoiceReference === call.invoiceReference) &&
        (rule.clientInvoiceId === undefined || rule.clientInvoiceId === call.clientInvoiceId),
    );
    // At most one latency and one failure per call: the first armed of each kind wins.
    const latency = matched.find(({ rule }) => rule.effect.kind === "latency");
    const failure = matched.find(({ rule }) => rule.effect.kind !== "latency");
    const chosen = [latency, failure].filter((armed): armed is Armed<CallFault> => armed !== undefined);
    for (const armed of chosen) this.consume(armed, "calls");
    return chosen.map((armed) => armed.rule);
  }

  takeNotificationFault(notification: { invoiceReference: string; trigger: string }): NotificationFault | undefined {
    const armed = this.notifications.find(
      ({ rule }) =>
        (rule.invoiceReference === undefined || rule.invoiceReference === notification.invoiceReference) &&
        (rule.trigger === undefined || rule.trigger === notification.trigger),
    );
    if (!armed) return undefined;
    this.consume(armed, "notifications");
    return armed.rule;
  }

  private consume(armed: Armed<unknown>, list: "calls" | "notifications"): void {
    if (armed.remaining === "always") return;
    armed.remaining -= 1;
    if (armed.remaining <= 0) {
      if (list === "calls") this.calls = this.calls.filter((item) => item !== armed);
      else this.notifications = this.notifications.filter((item) => item !== armed);
    }
  }
}
