import type { AdapterMessage } from "./qibixx-codec.ts";

/**
 * The adapter setup as a conversation (docs/mdb-adapters.md): `C,0`, each `C,SETCONF`, `C,1`, every one sent only
 * after the previous one was answered. This module holds the decisions (which settings, which answer belongs to which
 * step); the mechanism does the sending and waiting.
 */

export type SetupStep = "disable" | "setting" | "enable";

/** What a line from the adapter means for the step in progress. */
export type StepVerdict =
  /** The step's own answer. */
  | { answered: true; legacy: boolean }
  /** The adapter refused the step's command. */
  | { refused: string }
  /** Not an answer to this step (an r,ACK, a status line, a late answer to something else). */
  | undefined;

/** Error texts that answer other commands than SETCONF: never read as a refused setting. */
const otherCommandErrors = /^(cashless is off|START\b|STOP\b|VEND\b)/;

export function judgeSetupAnswer(step: SetupStep, message: AdapterMessage): StepVerdict {
  switch (step) {
    case "disable":
      if (message.kind === "enableAck" && !message.enabled) return { answered: true, legacy: false };
      if (message.kind === "slaveOnline" && !message.online) return { answered: true, legacy: true };
      // A fresh power-up: the slave was already off. That is what C,0 is for, so it is done.
      if (message.kind === "error" && message.text === "cashless is off") return { answered: true, legacy: false };
      if (message.kind === "error" && !otherCommandErrors.test(message.text)) return { refused: message.text };
      return undefined;
    case "setting":
      if (message.kind === "setOk") return { answered: true, legacy: false };
      if (message.kind === "error" && !otherCommandErrors.test(message.text)) return { refused: message.text };
      return undefined;
    case "enable":
      if (message.kind === "enableAck" && message.enabled) return { answered: true, legacy: false };
      if (message.kind === "slaveOnline" && message.online) return { answered: true, legacy: true };
      if (message.kind === "error" && message.text === "cashless is on") return { answered: true, legacy: false };
      if (message.kind === "error" && !otherCommandErrors.test(message.text)) return { refused: message.text };
      return undefined;
  }
}

export interface PlannedSetting {
  /** Spellings of the key to try in order (the address key differs between firmware versions). */
  keys: string[];
  value: string;
  /** A refused required setting fails the setup; a refused optional one is logged and skipped. */
  required: boolean;
}

export interface AdapterSettingValues {
  address: number;
  currencyCode: number;
  scaleFactor: number;
  decimalPlaces: number;
  alwaysIdle: boolean;
  sessionIdleTimeoutS: number;
  vendTimeoutS: number;
  restoreFunds: boolean;
}

export const addressKeys = ["mdb-address", "mdb-addr"] as const;

/**
 * The settings to send, in order. `preferredAddressKey` is the spelling that worked last time (or the older one when
 * the adapter answered C,0 in the older dialect); the other spelling stays as the fallback.
 */
export function plannedSettings(values: AdapterSettingValues, preferredAddressKey?: string): PlannedSetting[] {
  const keys: string[] = [...addressKeys];
  if (preferredAddressKey && keys.includes(preferredAddressKey)) {
    keys.splice(keys.indexOf(preferredAddressKey), 1);
    keys.unshift(preferredAddressKey);
  }
  const flag = (on: boolean) => (on ? "1" : "0");
  return [
    { keys, value: `0x${values.address.toString(16)}`, required: true },
    { keys: ["mdb-currency-code"], value: `0x${values.currencyCode.toString(16).padStart(4, "0")}`, required: true },
    { keys: ["mdb-scale-factor"], value: String(values.scaleFactor), required: true },
    { keys: ["mdb-decimal-places"], value: String(values.decimalPlaces), required: true },
    { keys: ["mdb-always-idle"], value: flag(values.alwaysIdle), required: false },
    { keys: ["mdb-timeout-idle"], value: String(values.sessionIdleTimeoutS), required: false },
    { keys: ["mdb-timeout-vend"], value: String(values.vendTimeoutS), required: false },
    { keys: ["mdb-restore-funds"], value: flag(values.restoreFunds), required: false },
  ];
}

/** Pause before retry `attempt` (1, 2, ...) of an unanswered setup step: growing, capped. */
export function setupRetryPauseMs(attempt: number): number {
  return Math.min(250 * 2 ** (attempt - 1), 2_000);
}
