import { fstatSync } from "node:fs";
import { type DestinationStream, type LoggerOptions, type Logger as PinoLogger, pino } from "pino";
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
  /**
   * Prefix each line with its syslog priority (`<3>` error ... `<7>` debug) so journald files it under the right
   * priority and `journalctl -p warning` works. Default: on when logging to stdout and stdout is the journal stream
   * systemd connected (`isJournalStream`), so both programs get priorities under their units without a flag.
   */
  syslogPrefix?: boolean;
}

/** pino level number -> syslog priority (sd-daemon(3) prefixes): fatal=crit, error=err, warn=warning, info, debug. */
export function syslogPriority(level: number): number {
  if (level >= 60) return 2;
  if (level >= 50) return 3;
  if (level >= 40) return 4;
  if (level >= 30) return 6;
  return 7;
}

/**
 * True when `fd` (stdout) is the journal stream systemd connected: $JOURNAL_STREAM holds its "device:inode"
 * (systemd.exec(5)). Comparing, rather than trusting the variable, keeps prefixes out of a pipe a technician opened
 * from a shell that inherited the variable.
 */
export function isJournalStream(env: NodeJS.ProcessEnv, fd = 1): boolean {
  const expected = env.JOURNAL_STREAM;
  if (expected === undefined || expected === "") return false;
  try {
    const stat = fstatSync(fd);
    return expected === `${stat.dev}:${stat.ino}`;
  } catch {
    return false;
  }
}

/** Wraps a destination so that every line starts with its syslog priority; pino hands over the level as metadata. */
function withSyslogPrefix(target: { write(chunk: string): unknown }): DestinationStream {
  const stream = {
    [Symbol.for("pino.metadata")]: true,
    lastLevel: 30,
    write(line: string) {
      target.write(`<${syslogPriority(stream.lastLevel)}>${line}`);
    },
  };
  return stream;
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
  const prefix = settings.syslogPrefix ?? (settings.destination === undefined && isJournalStream(process.env));
  if (prefix) {
    // Synchronous writes: the lines just before a crash or a watchdog kill must reach the journal, not a buffer.
    return pino(options, withSyslogPrefix(settings.destination ?? pino.destination({ dest: 1, sync: true })));
  }
  return settings.destination ? pino(options, settings.destination) : pino(options);
}

/** A logger that drops everything, for library use and tests that do not look at logs. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
