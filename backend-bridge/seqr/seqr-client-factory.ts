import type { BridgeConfig } from "../../config/schema/bridge.ts";
import type { Clock } from "../../platform/clock.ts";
import type { Logger } from "../../platform/logger.ts";
import { SeqrSoapClient } from "./soap-client.ts";

/**
 * The SOAP client as the bridge's `seqr` configuration section describes it. markTransactionPeriod needs the
 * RESELLERUSER principal, which the section does not carry: pass it here if the bridge ever closes periods.
 */
export function createSeqrClient(
  config: BridgeConfig["seqr"],
  dependencies: { logger: Logger; clock?: Clock; resellerUser?: { id: string; userId: string; password: string } },
): SeqrSoapClient {
  return new SeqrSoapClient({
    endpointUrl: config.endpointUrl,
    terminalId: config.terminalId,
    password: config.password,
    clientId: config.clientId,
    channel: config.channel,
    requestTimeoutMs: config.requestTimeoutMs,
    logger: dependencies.logger,
    ...(dependencies.clock ? { clock: dependencies.clock } : {}),
    ...(dependencies.resellerUser ? { resellerUser: dependencies.resellerUser } : {}),
  });
}
