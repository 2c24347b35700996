import type { BridgeConfig } from "../../config/schema/bridge.ts";
import type { PeriodCloseSettings } from "./period-close.ts";

/** The period close as the config describes it; a commit may run until its reservation's window ends. */
export function periodCloseSettings(config: BridgeConfig): PeriodCloseSettings {
  return {
    reportId: config.reconciliation.reportId,
    reportRetryMs: config.reconciliation.reportRetryMs,
    reportAttempts: config.reconciliation.reportAttempts,
    intervalMs: config.reconciliation.periodCloseIntervalMs,
    settleLagMs: config.seqr.commitReservationTimeoutSeconds * 1_000 + config.seqr.requestTimeoutMs,
  };
}
