import { Writable } from "node:stream";
import { createLogger, type Logger, type LogLevel } from "../../platform/logger.ts";

/** A real (pino) logger whose JSON lines land in `lines`, for tests that check what the operator reads. */
export function capturedLogs(level: LogLevel = "debug"): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger({ name: "vend-agent", level, destination, syslogPrefix: false }), lines };
}
