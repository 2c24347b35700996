import { execFile } from "node:child_process";
import { getSystemErrorName } from "node:util";
import type { Logger } from "./logger.ts";

/**
 * systemd's notify protocol (sd_notify(3)) from Node: READY=1 once the program is fully started, WATCHDOG=1 keep-alives,
 * STATUS= lines for `systemctl status`, STOPPING=1 on shutdown.
 *
 * Node core has no AF_UNIX datagram sockets, so the datagrams go through the native `unix-dgram` package (the choice of
 * zigbee2mqtt), an optional dependency loaded with a dynamic import: when it is missing or cannot load, the program
 * still runs and says so. Without $NOTIFY_SOCKET (started by hand, in tests, in Docker) everything here is a no-op.
 *
 * Abstract sockets ("@name" in $NOTIFY_SOCKET) cannot be reached through unix-dgram: its native code copies the path
 * with strncpy, which stops at the leading NUL byte. For those, the messages go through the `systemd-notify` tool
 * instead; systemd then sees a child's PID, which only `NotifyAccess=all` accepts (a warning says so). systemd itself
 * uses a filesystem path (/run/systemd/notify), so the fallback only matters inside some containers.
 */

/** One way of delivering a notify datagram. `send` throws when the datagram cannot be delivered. */
export interface NotifyTransport {
  readonly kind: string;
  send(message: string): void;
  close(): void;
}

export type NotifyTransportFactory = (address: NotifyAddress, logger: Logger) => Promise<NotifyTransport>;

export type NotifyAddress = { kind: "path"; path: string } | { kind: "abstract"; name: string };

export interface SdNotifier {
  /** True when $NOTIFY_SOCKET is set and a transport could be opened: messages actually go somewhere. */
  readonly active: boolean;
  /** The watchdog interval systemd expects for THIS process (WATCHDOG_USEC, honouring WATCHDOG_PID), in ms. */
  readonly watchdogMs: number | undefined;
  /** Sends `KEY=value` lines in one datagram. False when nothing was sent (inactive, or the send failed). */
  notify(fields: Readonly<Record<string, string | number>>): boolean;
  ready(status?: string): boolean;
  status(text: string): boolean;
  watchdogPing(): boolean;
  stopping(status?: string): boolean;
  close(): void;
}

export interface SdNotifierOptions {
  env: NodeJS.ProcessEnv;
  logger: Logger;
  pid?: number;
  /** Replaced by tests to simulate a missing or broken native module. */
  transportFactory?: NotifyTransportFactory;
}

/** "@name" -> abstract socket, "/run/systemd/notify" -> path; anything else is not an address systemd would give. */
export function parseNotifyAddress(value: string | undefined): NotifyAddress | undefined {
  if (value === undefined || value === "") return undefined;
  if (value.startsWith("@") && value.length > 1) return { kind: "abstract", name: value.slice(1) };
  if (value.startsWith("/")) return { kind: "path", path: value };
  return undefined;
}

/**
 * WATCHDOG_USEC in milliseconds, or undefined when no watchdog is configured for this process. systemd sets
 * WATCHDOG_PID too; when it names another process (a wrapper exported the variables) the watchdog is not ours.
 */
export function watchdogIntervalMs(env: NodeJS.ProcessEnv, pid: number): number | undefined {
  const usecText = env.WATCHDOG_USEC;
  if (usecText === undefined || !/^\d+$/.test(usecText)) return undefined;
  const usec = Number(usecText);
  if (!Number.isSafeInteger(usec) || usec <= 0) return undefined;
  const watchdogPid = env.WATCHDOG_PID;
  if (watchdogPid !== undefined && watchdogPid !== "" && Number(watchdogPid) !== pid) return undefined;
  return Math.max(1, Math.floor(usec / 1000));
}

/** Field values must stay on one line: a newline would start a new KEY=value assignment. */
export function formatNotifyMessage(fields: Readonly<Record<string, string | number>>): string {
  return Object.entries(fields)
    .map(([key, value]) => `${key}=${String(value).replace(/[\r\n]+/g, " ")}`)
    .join("\n");
}

interface UnixDgramSocket {
  on(event: "error", listener: (error: Error) => void): unknown;
  send(buf: Buffer, offset: number, length: number, path: string, callback?: (error?: Error) => void): void;
  close(): void;
}

interface UnixDgramModule {
  createSocket(type: "unix_dgram"): UnixDgramSocket;
}

async function loadUnixDgram(): Promise<UnixDgramModule> {
  // A variable specifier keeps TypeScript from looking for type declarations the package does not ship.
  const specifier = "unix-dgram";
  const loaded = (await import(specifier)) as { default?: UnixDgramModule } & Partial<UnixDgramModule>;
  const module = loaded.default ?? (loaded as UnixDgramModule);
  if (typeof module.createSocket !== "function") throw new Error("unix-dgram has no createSocket()");
  return module;
}

/** unix-dgram reports "send -2": turn the negative errno into ENOENT/ECONNREFUSED/EACCES for the log line. */
function describeSendError(error: Error & { code?: unknown }): string {
  if (typeof error.code === "number" && error.code < 0) {
    try {
      return getSystemErrorName(error.code);
    } catch {
      return error.message;
    }
  }
  return error.message;
}

/** A datagram socket to a filesystem path, through unix-dgram. Sends are synchronous system calls. */
export async function unixDgramTransport(path: string): Promise<NotifyTransport> {
  const unix = await loadUnixDgram();
  const socket = unix.createSocket("unix_dgram");
  // Errors are delivered through the send callback; this listener keeps an unexpected one from crashing the process.
  socket.on("error", () => {});
  let open = true;
  return {
    kind: "unix-dgram",
    send(message) {
      if (!open) throw new Error("the notify socket is closed");
      const buffer = Buffer.from(message, "utf8");
      let failure: Error | undefined;
      // unix-dgram calls back synchronously (the send is one sendmsg call), so the result is known on return.
      socket.send(buffer, 0, buffer.length, path, (error) => {
        failure = error;
      });
      if (failure) throw new Error(`sending to ${path}: ${describeSendError(failure)}`);
    },
    close() {
      if (!open) return;
      open = false;
      socket.close();
    },
  };
}

/**
 * The `systemd-notify` tool as a transport, for abstract sockets. Asynchronous: a failure is logged when it happens
 * rather than thrown, so a failing tool shows up in the log instead of silently stopping the watchdog.
 */
export function systemdNotifyToolTransport(
  address: NotifyAddress,
  logger: Logger,
  tool = "systemd-notify",
): NotifyTransport {
  const socketValue = address.kind === "abstract" ? `@${address.name}` : address.path;
  let failures = 0;
  return {
    kind: "systemd-notify",
    send(message) {
      const args = message.split("\n");
      execFile(tool, args, { env: { ...process.env, NOTIFY_SOCKET: socketValue }, timeout: 5_000 }, (error) => {
        if (!error) {
          failures = 0;
          return;
        }
        failures += 1;
        if (failures === 1 || failures % 100 === 0) {
          logger.error({ err: error, failures }, "systemd-notify failed: systemd does not get our notify messages");
        }
      });
    },
    close() {},
  };
}

export const defaultTransportFactory: NotifyTransportFactory = async (address, logger) => {
  if (address.kind === "path") return unixDgramTransport(address.path);
  logger.warn(
    { notifySocket: `@${address.name}` },
    "NOTIFY_SOCKET is an abstract socket, which unix-dgram cannot address: using the systemd-notify tool, " +
      "which needs NotifyAccess=all in the unit",
  );
  return systemdNotifyToolTransport(address, logger);
};

function inactiveNotifier(watchdogMs: number | undefined): SdNotifier {
  return {
    active: false,
    watchdogMs,
    notify: () => false,
    ready: () => false,
    status: () => false,
    watchdogPing: () => false,
    stopping: () => false,
    close: () => {},
  };
}

/**
 * Opens the notify channel described by the environment. Never throws: a missing socket makes a no-op notifier, a
 * broken transport makes an inactive one plus an error-level log line when systemd expects watchdog pings (without
 * them systemd kills the service every WatchdogSec, which must not look like a mystery in the journal).
 */
export async function createSdNotifier(options: SdNotifierOptions): Promise<SdNotifier> {
  const { env, logger } = options;
  const pid = options.pid ?? process.pid;
  const watchdogMs = watchdogIntervalMs(env, pid);
  const address = parseNotifyAddress(env.NOTIFY_SOCKET);
  const loud = (reason: string, extra: Record<string, unknown> = {}) => {
    if (watchdogMs === undefined) {
      logger.warn(extra, `sd_notify unavailable (${reason}); readiness and status are not reported to systemd`);
    } else {
      logger.error(
        { ...extra, watchdogMs },
        `WATCHDOG IS CONFIGURED BUT PINGS CANNOT BE SENT (${reason}): systemd will kill and restart this service ` +
          "every WatchdogSec. Install the unix-dgram module (npm rebuild unix-dgram) or remove WatchdogSec.",
      );
    }
  };

  if (env.NOTIFY_SOCKET === undefined || env.NOTIFY_SOCKET === "") {
    if (watchdogMs !== undefined) loud("NOTIFY_SOCKET is not set");
    return inactiveNotifier(watchdogMs);
  }
  if (address === undefined) {
    loud("NOTIFY_SOCKET is not a socket path or @abstract name", { notifySocket: env.NOTIFY_SOCKET });
    return inactiveNotifier(watchdogMs);
  }

  let transport: NotifyTransport;
  try {
    transport = await (options.transportFactory ?? defaultTransportFactory)(address, logger);
  } catch (error) {
    loud(`cannot open the notify transport: ${(error as Error).message}`, { notifySocket: env.NOTIFY_SOCKET });
    return inactiveNotifier(watchdogMs);
  }

  // Failed pings and failed other messages are counted apart, so a failed READY cannot hide that pings fail too.
  const failures = { ping: 0, other: 0 };
  const notify = (fields: Readonly<Record<string, string | number>>): boolean => {
    const kind = "WATCHDOG" in fields ? "ping" : "other";
    try {
      transport.send(formatNotifyMessage(fields));
      if (failures[kind] > 0) logger.info({ after: failures[kind] }, "sd_notify works again");
      failures[kind] = 0;
      return true;
    } catch (error) {
      failures[kind] += 1;
      const count = failures[kind];
      // First failure and then every 100th, so a dead socket does not flood the SD card with log lines.
      if (count === 1 || count % 100 === 0) {
        const message = `sd_notify send failed (${(error as Error).message})`;
        if (kind === "ping" && watchdogMs !== undefined) loud(message, { failures: count });
        else logger.warn({ failures: count }, message);
      }
      return false;
    }
  };

  logger.debug({ transport: transport.kind, watchdogMs }, "sd_notify channel open");
  return {
    active: true,
    watchdogMs,
    notify,
    ready: (status) => notify(status === undefined ? { READY: 1 } : { READY: 1, STATUS: status }),
    status: (text) => notify({ STATUS: text }),
    watchdogPing: () => notify({ WATCHDOG: 1 }),
    stopping: (status) => notify(status === undefined ? { STOPPING: 1 } : { STOPPING: 1, STATUS: status }),
    close: () => transport.close(),
  };
}
