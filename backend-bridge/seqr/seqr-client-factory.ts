import type { BridgeConfig } from "../../config/schema/bridge.ts";
import type { Clock } from "../../platform/clock.ts";
import type { Logger } from "../../platform/logger.ts";
import { SeqrSoapClient } from "./soap-client.ts";

/** How long a sendInvoice answer is still awaited after the purchase gave up on it, to cancel that invoice. */
export const lateInvoiceAnswerMs = 60_000;

/**
 * The SOAP client as the bridge's `seqr` configuration section describes it, with the RESELLERUSER principal of
 * `seqr.resellerUser` for the period close when it is configured.
 */
export function createSeqrClient(
  config: BridgeConfig["seqr"],
  dependencies: { logger: Logger; clock?: Clock; resellerUser?: { id: string; userId: string; password: string } },
): SeqrSoapClient {
  const resellerUser = dependencies.resellerUser ?? config.resellerUser;
  return new SeqrSoapClient({
    endpointUrl: config.endpointUrl,
    terminalId: config.terminalId,
    password: config.password,
    clientId: config.clientId,
    channel: config.channel,
    requestTimeoutMs: config.requestTimeoutMs,
    // The purchase answers its caller by its own deadline (purchase/orchestrator.ts) and cancels an invoice whose
    // sendInvoice answers late. That needs the answer: a socket dropped at requestTimeoutMs would leave an invoice
    // SEQR created that nobody can see or cancel. So sendInvoice's connection is held open for a late answer.
    operationTimeoutsMs: { sendInvoice: Math.max(config.requestTimeoutMs, lateInvoiceAnswerMs) },
    logger: dependencies.logger,
    ...(dependencies.clock ? { clock: dependencies.clock } : {}),
    ...(resellerUser ? { resellerUser } : {}),
  });
}
