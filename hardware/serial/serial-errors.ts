/**
 * Turns the terse errors of serialport (and of the OS beneath it) into a sentence a technician can act on. The kind
 * lets callers decide (a permission problem will not fix itself by retrying; a missing device may be replugged).
 */
export type SerialErrorKind = "permission" | "locked" | "missing" | "disconnected" | "other";

export class SerialPortError extends Error {
  readonly kind: SerialErrorKind;
  readonly path: string;

  constructor(kind: SerialErrorKind, path: string, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "SerialPortError";
    this.kind = kind;
    this.path = path;
  }
}

function rawMessage(error: unknown): string {
  if (error instanceof Error) return `${(error as NodeJS.ErrnoException).code ?? ""} ${error.message}`;
  return String(error);
}

export function explainSerialError(error: unknown, path: string): SerialPortError {
  if (error instanceof SerialPortError) return error;
  const text = rawMessage(error);
  if (/EACCES|Permission denied/i.test(text)) {
    return new SerialPortError(
      "permission",
      path,
      `permission denied opening ${path}: add the user to the dialout group ` +
        "(sudo usermod -aG dialout <user>, then log in again; for the service: SupplementaryGroups=dialout)",
      error,
    );
  }
  if (/Cannot lock port|Port is locked|EWOULDBLOCK|Resource temporarily unavailable/i.test(text)) {
    return new SerialPortError(
      "locked",
      path,
      `${path} is held by another process (Cannot lock port), e.g. the running vend-agent: ` +
        `stop it first (systemctl stop vend-agent) or find the holder with 'fuser ${path}'`,
      error,
    );
  }
  if (/ENOENT|No such file|does not exist|ENODEV|ENXIO/i.test(text)) {
    return new SerialPortError(
      "missing",
      path,
      `${path} does not exist: is the adapter plugged in? ('vend-agent ports list' shows the serial ports present)`,
      error,
    );
  }
  if ((error as { disconnected?: boolean } | undefined)?.disconnected === true || /disconnected|EIO/i.test(text)) {
    return new SerialPortError("disconnected", path, `${path} was disconnected (unplugged or powered off)`, error);
  }
  return new SerialPortError("other", path, `serial port ${path}: ${text.trim()}`, error);
}
