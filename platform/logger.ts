import { type LoggerOptions, type Logger as PinoLogger, pino } from "pino";
import { maskMsisdn, msisdnFieldNames, redactedMarker, secretFieldNames } from "./redact.ts";

/**
 * Structured JSON logs on stdout, one line per event, for journald. Each module takes a child logger
 * (`logger.child({ module: "mqtt" })`). Secrets and phone numbers are masked by path, whatever module logs them.
 */
export type Logger = PinoLogger;

export const logLevels = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof logLevels)[number];

export interface LoggerSettings {
  level: LogLevel;
  /** Program name, e.g. "vend-agent", written in every line. */
  name: string;
  /** Where lines go; stdout by default. Tests pass a stream to capture lines. */
  destination?: NodeJS.WritableStream;
}

function redactPaths(names: readonly string[]): string[] {
  // pino's wildcards match one level; three levels cover our records (e.g. err.config.password).
  return names.flatMap((name) => [name, `*.${name}`, `*.*.${name}`, `*.*.*.${name}`]);
}

export function createLogger(settings: LoggerSettings): Logger {
  const options: LoggerOptions = {
    name: settings.name,
    level: settings.level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: {
      paths: [...redactPaths(secretFieldNames), ...redactPaths(msisdnFieldNames)],
      censor: (value, path) => {
        const field = path[path.length - 1] ?? "";
        return (msisdnFieldNames as readonly string[]).includes(field) ? maskMsisdn(value) : redactedMarker;
      },
    },
  };
  return settings.destination ? pino(options, settings.destination) : pino(options);
}

/** A logger that drops everything, for library use and tests that do not look at logs. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
