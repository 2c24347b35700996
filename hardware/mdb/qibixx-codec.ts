/**
 * The Qibixx MDB adapter's line protocol in cashless-slave mode (hardware-reference §2.1): upper-case lines go to the
 * adapter (`C,...`), lower-case lines come from it (`c,...`). Both directions are here so that the driver and the
 * VMC simulator share one definition of the wire format. Parsing never throws: a line that is not exactly one of the
 * known messages is `garbage`, for the caller to count and ignore.
 */

export type ReaderState = "INACTIVE" | "DISABLED" | "ENABLED";

/** Lines the adapter sends to us. */
export type AdapterMessage =
  | { kind: "setOk" }
  | { kind: "enableAck"; enabled: boolean }
  | { kind: "readerState"; state: ReaderState }
  /**
   * Older firmware's answer to `C,1` (`c,STATUS,ONLINE`) and `C,0` (`c,STATUS,OFFLINE`): the cashless slave is on or
   * off the bus. Current firmware answers `c,1`/`c,0` instead (docs/mdb-adapters.md).
   */
  | { kind: "slaveOnline"; online: boolean }
  | { kind: "sessionIdle"; fundsText?: string }
  | { kind: "vendRequest"; priceText: string; item: number }
  | { kind: "vendSuccess" }
  /** `c,ERR,VEND 3`: the VMC failed the vend after approval (VEND 1 has been seen as a cancel). */
  | { kind: "vendFailure"; code: number }
  | { kind: "startRejected"; text: string }
  | { kind: "error"; text: string }
  | { kind: "pollAck" }
  | { kind: "version"; version: string }
  | { kind: "hardware"; text: string }
  | { kind: "garbage"; line: string };

/** Lines we send to the adapter. */
export type HostCommand =
  | { kind: "version" }
  | { kind: "disable" }
  | { kind: "enable" }
  | { kind: "setConfig"; key: string; value: string }
  | { kind: "startSession"; fundsText: string }
  | { kind: "approve"; amountText: string }
  /** `C,VEND,-1`: deny the VMC's active vend request (the credit was asked for and not yet given). */
  | { kind: "denyVend" }
  /** `C,STOP`: end a session that has no vend request open. */
  | { kind: "stop" }
  | { kind: "display"; text: string }
  | { kind: "garbage"; line: string };

const amountPattern = /^\d{1,9}(?:\.\d{1,3})?$/;
const configKeyPattern = /^[a-z][a-z0-9-]{1,40}$/;
const configValuePattern = /^[A-Za-z0-9x.-]{1,16}$/;

function parseItem(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d{1,5}$/.test(text)) return undefined;
  const item = Number(text);
  return item <= 0xffff ? item : undefined;
}

export function parseAdapterLine(raw: string): AdapterMessage {
  const line = raw.trim();
  const garbage: AdapterMessage = { kind: "garbage", line: raw };
  if (line === "r,ACK") return { kind: "pollAck" };
  const parts = line.split(",");
  const [prefix, head, ...rest] = parts;
  if (prefix === "v" && head) return { kind: "version", version: parts.slice(1).join(",") };
  if (prefix === "h" && head) return { kind: "hardware", text: parts.slice(1).join(",") };
  if (prefix !== "c" || head === undefined) return garbage;
  switch (head) {
    case "SET":
      return rest.length === 1 && rest[0] === "OK" ? { kind: "setOk" } : garbage;
    case "1":
    case "0":
      return rest.length === 0 ? { kind: "enableAck", enabled: head === "1" } : garbage;
    case "STATUS": {
      const [state, a, b] = rest;
      if ((state === "INACTIVE" || state === "DISABLED" || state === "ENABLED") && rest.length === 1) {
        return { kind: "readerState", state };
      }
      if ((state === "ONLINE" || state === "OFFLINE") && rest.length === 1) {
        return { kind: "slaveOnline", online: state === "ONLINE" };
      }
      if (state === "IDLE" && rest.length === 1) return { kind: "sessionIdle" };
      if (state === "IDLE" && rest.length === 2 && a !== undefined && amountPattern.test(a)) {
        return { kind: "sessionIdle", fundsText: a };
      }
      if (state === "VEND" && rest.length === 3 && a !== undefined && amountPattern.test(a)) {
        const item = parseItem(b);
        return item === undefined ? garbage : { kind: "vendRequest", priceText: a, item };
      }
      return garbage;
    }
    case "VEND":
      return rest.length === 1 && rest[0] === "SUCCESS" ? { kind: "vendSuccess" } : garbage;
    case "ERR": {
      const text = rest
        .join(",")
        .replace(/^"(.*)"$/, "$1")
        .trim();
      if (text.length === 0) return garbage;
      const vend = /^VEND (\d{1,3})$/.exec(text);
      if (vend?.[1]) return { kind: "vendFailure", code: Number(vend[1]) };
      if (/^START\b/.test(text)) return { kind: "startRejected", text };
      return { kind: "error", text };
    }
    default:
      return garbage;
  }
}

/** Display text as the adapter takes it: printable ASCII, at most 32 characters. */
export function displayText(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, " ").slice(0, 32);
}

export function encodeAdapterCommand(command: Exclude<HostCommand, { kind: "garbage" }>): string {
  switch (command.kind) {
    case "version":
      return "V\n";
    case "disable":
      return "C,0\n";
    case "enable":
      return "C,1\n";
    case "setConfig":
      if (!configKeyPattern.test(command.key) || !configValuePattern.test(command.value)) {
        throw new RangeError(`invalid adapter setting ${command.key}=${command.value}`);
      }
      return `C,SETCONF,${command.key}=${command.value}\n`;
    case "startSession":
      if (!amountPattern.test(command.fundsText)) throw new RangeError(`invalid funds ${command.fundsText}`);
      return `C,START,${command.fundsText}\n`;
    case "approve":
      if (!amountPattern.test(command.amountText)) throw new RangeError(`invalid amount ${command.amountText}`);
      return `C,VEND,${command.amountText}\n`;
    case "denyVend":
      return "C,VEND,-1\n";
    case "stop":
      return "C,STOP\n";
    case "display":
      return `C,DISPLAY,${displayText(command.text)}\n`;
  }
}

/** The adapter's side: what the host asked for (used by the VMC simulator). */
export function parseHostLine(raw: string): HostCommand {
  const line = raw.trim();
  const garbage: HostCommand = { kind: "garbage", line: raw };
  if (line === "V") return { kind: "version" };
  if (line === "C,0") return { kind: "disable" };
  if (line === "C,1") return { kind: "enable" };
  if (line === "C,STOP") return { kind: "stop" };
  if (line === "C,VEND,-1") return { kind: "denyVend" };
  const setconf = /^C,SETCONF,([a-z][a-z0-9-]{1,40})=([A-Za-z0-9x.-]{1,16})$/.exec(line);
  if (setconf?.[1] && setconf[2]) return { kind: "setConfig", key: setconf[1], value: setconf[2] };
  const start = /^C,START,(\S+)$/.exec(line);
  if (start?.[1] && amountPattern.test(start[1])) return { kind: "startSession", fundsText: start[1] };
  const vend = /^C,VEND,(\S+)$/.exec(line);
  if (vend?.[1] && amountPattern.test(vend[1])) return { kind: "approve", amountText: vend[1] };
  if (line.startsWith("C,DISPLAY,")) return { kind: "display", text: line.slice("C,DISPLAY,".length) };
  return garbage;
}

/** Lines the simulated adapter emits; the counterpart of parseAdapterLine. */
export function encodeAdapterMessage(message: Exclude<AdapterMessage, { kind: "garbage" }>): string {
  switch (message.kind) {
    case "setOk":
      return "c,SET,OK\n";
    case "enableAck":
      return `c,${message.enabled ? 1 : 0}\n`;
    case "readerState":
      return `c,STATUS,${message.state}\n`;
    case "slaveOnline":
      return `c,STATUS,${message.online ? "ONLINE" : "OFFLINE"}\n`;
    case "sessionIdle":
      return message.fundsText === undefined ? "c,STATUS,IDLE\n" : `c,STATUS,IDLE,${message.fundsText}\n`;
    case "vendRequest":
      return `c,STATUS,VEND,${message.priceText},${message.item}\n`;
    case "vendSuccess":
      return "c,VEND,SUCCESS\n";
    case "vendFailure":
      return `c,ERR,VEND ${message.code}\n`;
    case "startRejected":
    case "error":
      return `c,ERR,"${message.text}"\n`;
    case "pollAck":
      return "r,ACK\n";
    case "version":
      return `v,${message.version}\n`;
    case "hardware":
      return `h,${message.text}\n`;
  }
}
