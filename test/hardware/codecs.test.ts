import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LineFramer } from "../../hardware/mdb/line-framer.ts";
import { MdbMoney } from "../../hardware/mdb/mdb-money.ts";
import {
  encodeAdapterCommand,
  encodeAdapterMessage,
  parseAdapterLine,
  parseHostLine,
} from "../../hardware/mdb/qibixx-codec.ts";
import {
  directDriveFrame,
  dispensingStatusFrame,
  parseDirectDrive,
  parseDispensingStatus,
  pollFrame,
} from "../../hardware/spiral/fafb-commands.ts";
import { encodeFrame, FafbFrameReader, xorChecksum } from "../../hardware/spiral/fafb-frame.ts";

describe("Qibixx line codec", () => {
  it("parses every adapter message we act on", () => {
    expect(parseAdapterLine("c,SET,OK")).toEqual({ kind: "setOk" });
    expect(parseAdapterLine("c,1")).toEqual({ kind: "enableAck", enabled: true });
    expect(parseAdapterLine("c,STATUS,ENABLED")).toEqual({ kind: "readerState", state: "ENABLED" });
    expect(parseAdapterLine("c,STATUS,IDLE,20.00")).toEqual({ kind: "sessionIdle", fundsText: "20.00" });
    expect(parseAdapterLine("c,STATUS,VEND,1.00,5")).toEqual({ kind: "vendRequest", priceText: "1.00", item: 5 });
    expect(parseAdapterLine("c,VEND,SUCCESS\r")).toEqual({ kind: "vendSuccess" });
    expect(parseAdapterLine("c,ERR,VEND 3")).toEqual({ kind: "vendFailure", code: 3 });
    expect(parseAdapterLine('c,ERR,"VEND 3"')).toEqual({ kind: "vendFailure", code: 3 });
    expect(parseAdapterLine('c,ERR,"START -1"')).toEqual({ kind: "startRejected", text: "START -1" });
    expect(parseAdapterLine("r,ACK")).toEqual({ kind: "pollAck" });
    expect(parseAdapterLine("v,4.0.1,ABC")).toEqual({ kind: "version", version: "4.0.1,ABC" });
  });

  it("calls anything else garbage", () => {
    for (const line of [
      "",
      "c",
      "c,",
      "c,VEND,SUCCESS,1",
      "C,VEND,SUCCESS",
      "c,STATUS,VEND,1.00",
      "c,STATUS,VEND,1,70000",
      "c,STATUS,BOGUS",
      "c,ERR,",
      "c,STATUS,VEND,-1.00,5",
      "c,SET,NO",
    ]) {
      expect(parseAdapterLine(line).kind, line).toBe("garbage");
    }
  });

  it("never throws and never reads random text as a vend success", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (text) => {
        const message = parseAdapterLine(text);
        if (message.kind === "vendSuccess") expect(text.trim()).toBe("c,VEND,SUCCESS");
      }),
      { numRuns: 2_000 },
    );
  });

  it("round-trips commands through the simulator's parser and messages through the driver's", () => {
    const commands = [
      { kind: "disable" },
      { kind: "enable" },
      { kind: "setConfig", key: "mdb-currency-code", value: "0x1978" },
      { kind: "startSession", fundsText: "20.00" },
      { kind: "approve", amountText: "1.50" },
      { kind: "stop" },
      { kind: "version" },
    ] as const;
    for (const command of commands) expect(parseHostLine(encodeAdapterCommand(command))).toEqual(command);
    expect(parseHostLine(encodeAdapterCommand({ kind: "display", text: "Hel\u0001lo" }))).toEqual({
      kind: "display",
      text: "Hel lo",
    });
    const messages = [
      { kind: "setOk" },
      { kind: "readerState", state: "DISABLED" },
      { kind: "sessionIdle", fundsText: "5.00" },
      { kind: "vendRequest", priceText: "2.00", item: 12 },
      { kind: "vendSuccess" },
      { kind: "vendFailure", code: 3 },
    ] as const;
    for (const message of messages) expect(parseAdapterLine(encodeAdapterMessage(message))).toEqual(message);
    expect(() => encodeAdapterCommand({ kind: "approve", amountText: "1e3" })).toThrow();
  });

  it("splits lines across chunks, trims CR, drops overlong lines", () => {
    const framer = new LineFramer(16);
    expect(framer.push("c,SET")).toEqual([]);
    expect(framer.push(",OK\r\nc,1\n\n")).toEqual(["c,SET,OK", "c,1"]);
    expect(framer.push("y".repeat(40))).toEqual([]);
    expect(framer.push("\nc,0\n")).toEqual(["c,0"]);
    expect(framer.overflowCount).toBe(1);
  });
});

describe("Qibixx line codec, line by line", () => {
  it.each([
    ["c,STATUS,VEND,1.00,65535", { kind: "vendRequest", priceText: "1.00", item: 65_535 }],
    ["c,STATUS,VEND,1.00,0", { kind: "vendRequest", priceText: "1.00", item: 0 }],
    ["c,STATUS,INACTIVE", { kind: "readerState", state: "INACTIVE" }],
    ["c,STATUS,DISABLED", { kind: "readerState", state: "DISABLED" }],
    ["c,STATUS,IDLE", { kind: "sessionIdle" }],
    ["c,0", { kind: "enableAck", enabled: false }],
    ["h,rev,2", { kind: "hardware", text: "rev,2" }],
    ["v,4.0.1", { kind: "version", version: "4.0.1" }],
    ["c,ERR,VEND 33", { kind: "vendFailure", code: 33 }],
    ['c,ERR,"START -1 "', { kind: "startRejected", text: "START -1" }],
    ["c,ERR,START", { kind: "startRejected", text: "START" }],
    ["c,ERR,RESTART", { kind: "error", text: "RESTART" }],
    ["c,ERR,STARTED", { kind: "error", text: "STARTED" }],
    ['c,ERR,"Bad thing"', { kind: "error", text: "Bad thing" }],
    ["c,ERR,Bad,thing", { kind: "error", text: "Bad,thing" }],
    ['c,ERR,x"VEND 3"', { kind: "error", text: 'x"VEND 3"' }],
    ['c,ERR,"VEND 3"x', { kind: "error", text: '"VEND 3"x' }],
    ["c,ERR,VEND 3 x", { kind: "error", text: "VEND 3 x" }],
    ["c,ERR,xVEND 3", { kind: "error", text: "xVEND 3" }],
    ["c,ERR,VEND 1234", { kind: "error", text: "VEND 1234" }],
  ])("parses %s", (line, message) => {
    expect(parseAdapterLine(line)).toEqual(message);
  });

  it.each([
    "c,STATUS,VEND,1.00,65536",
    "c,STATUS,VEND,1.00,x5",
    "c,STATUS,VEND,1.00,5x",
    "c,STATUS,VEND,1.00,",
    "c,STATUS,VEND,1.00,1e3",
    "c,STATUS,VEND,1.00,5,6",
    "c,STATUS,VEND,abc,5",
    "c,STATUS,ENABLED,1",
    "c,STATUS,IDLE,abc",
    "c,STATUS,IDLE,1.00,2",
    "c,SET,OK,1",
    "c,1,x",
    "c,VEND,FAILURE",
    'c,ERR,""',
    "v,",
    "h,",
    "x,SET,OK",
  ])("calls %s garbage", (line) => {
    expect(parseAdapterLine(line)).toEqual({ kind: "garbage", line });
  });

  it("encodes every message the simulated adapter sends", () => {
    expect(encodeAdapterMessage({ kind: "enableAck", enabled: true })).toBe("c,1\n");
    expect(encodeAdapterMessage({ kind: "enableAck", enabled: false })).toBe("c,0\n");
    expect(encodeAdapterMessage({ kind: "readerState", state: "ENABLED" })).toBe("c,STATUS,ENABLED\n");
    expect(encodeAdapterMessage({ kind: "sessionIdle" })).toBe("c,STATUS,IDLE\n");
    expect(encodeAdapterMessage({ kind: "sessionIdle", fundsText: "5.00" })).toBe("c,STATUS,IDLE,5.00\n");
    expect(encodeAdapterMessage({ kind: "startRejected", text: "START -1" })).toBe('c,ERR,"START -1"\n');
    expect(encodeAdapterMessage({ kind: "error", text: "Bad thing" })).toBe('c,ERR,"Bad thing"\n');
    expect(encodeAdapterMessage({ kind: "pollAck" })).toBe("r,ACK\n");
    expect(encodeAdapterMessage({ kind: "version", version: "4.0.1" })).toBe("v,4.0.1\n");
    expect(encodeAdapterMessage({ kind: "hardware", text: "rev2" })).toBe("h,rev2\n");
  });

  it("encodes host commands exactly and refuses malformed ones with the reason", () => {
    expect(encodeAdapterCommand({ kind: "setConfig", key: "mdb-level", value: "3" })).toBe("C,SETCONF,mdb-level=3\n");
    expect(() => encodeAdapterCommand({ kind: "setConfig", key: "Bad key", value: "3" })).toThrow(
      "invalid adapter setting Bad key=3",
    );
    expect(() => encodeAdapterCommand({ kind: "setConfig", key: "mdb-level", value: "3,C,1" })).toThrow(
      "invalid adapter setting mdb-level=3,C,1",
    );
    expect(() => encodeAdapterCommand({ kind: "startSession", fundsText: "1,00" })).toThrow("invalid funds 1,00");
    expect(() => encodeAdapterCommand({ kind: "approve", amountText: "1e3" })).toThrow("invalid amount 1e3");
    expect(encodeAdapterCommand({ kind: "display", text: "x".repeat(40) })).toBe(`C,DISPLAY,${"x".repeat(32)}\n`);
  });

  it.each([
    "xC,SETCONF,mdb-level=3",
    "C,SETCONF,mdb-level=3!",
    "xC,START,1.00",
    "C,START,1.00 x",
    "xC,VEND,1.00",
    "C,VEND,1.00 x",
    "C,BOGUS",
    "C,DISPLAYED",
  ])("the simulated adapter calls host line %s garbage", (line) => {
    expect(parseHostLine(line)).toEqual({ kind: "garbage", line });
  });
});

describe("LineFramer edges", () => {
  it("keeps a line of exactly the maximum length, in one chunk or unfinished, and drops one character more", () => {
    const framer = new LineFramer(4);
    expect(framer.push("abcd\nabcde\n")).toEqual(["abcd"]);
    expect(framer.overflowCount).toBe(1);
    expect(framer.push("wxyz")).toEqual([]);
    expect(framer.push("\n")).toEqual(["wxyz"]);
    expect(framer.push("vwxyz")).toEqual([]);
    expect(framer.overflowCount).toBe(2);
    expect(framer.push("\nok\n")).toEqual(["ok"]);
  });

  it("allows 256 characters by default", () => {
    const framer = new LineFramer();
    expect(framer.push(`${"a".repeat(256)}\n${"b".repeat(257)}\n`)).toEqual(["a".repeat(256)]);
    expect(framer.overflowCount).toBe(1);
  });

  it("trims only a CR right before the newline, reads bytes as latin1, and forgets a half line on reset", () => {
    const framer = new LineFramer();
    expect(framer.push("a\rb\r\n")).toEqual(["a\rb"]);
    expect(framer.push(Buffer.from([0x63, 0xff, 0x0a]))).toEqual(["c\u00ff"]);
    expect(framer.push("half")).toEqual([]);
    framer.reset();
    expect(framer.push("new\n")).toEqual(["new"]);
  });
});

describe("MDB money", () => {
  it("converts with scale factor 1 and 2 decimals (EUR)", () => {
    const money = new MdbMoney({ scaleFactor: 1, decimalPlaces: 2, currency: "EUR" });
    expect(money.minorToWire(2_000, "floor")).toBe("20.00");
    expect(money.wireToMinor("1.50")).toBe(150);
    expect(money.wireToMinor("1.5")).toBe(150);
    expect(money.wireToMinor("1.505")).toBeUndefined();
    expect(money.wireToMinor("abc")).toBeUndefined();
  });

  it("floors funds to the scale factor and refuses inexact approvals", () => {
    // SEK with scale factor 5: only multiples of 0.05 exist on the bus.
    const money = new MdbMoney({ scaleFactor: 5, decimalPlaces: 2, currency: "SEK" });
    expect(money.toRaw(2_503, "floor")).toBe(500);
    expect(money.minorToWire(2_503, "floor")).toBe("25.00");
    expect(money.toRaw(2_503, "exact")).toBeUndefined();
    expect(money.minorToWire(2_505, "exact")).toBe("25.05");
    expect(money.wireToMinor("25.05")).toBe(2_505);
    expect(money.wireToMinor("25.03")).toBeUndefined();
  });

  it("handles currencies whose exponent differs from the decimal places", () => {
    const money = new MdbMoney({ scaleFactor: 1, decimalPlaces: 0, currency: "EUR" });
    expect(money.minorToWire(2_050, "floor")).toBe("20");
    expect(money.minorToWire(2_050, "exact")).toBeUndefined();
    expect(money.wireToMinor("3")).toBe(300);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1_000_000 }), fc.integer({ min: 1, max: 100 }), (minor, scaleFactor) => {
        const m = new MdbMoney({ scaleFactor, decimalPlaces: 2, currency: "EUR" });
        const wire = m.minorToWire(minor, "floor");
        const back = wire === undefined ? undefined : m.wireToMinor(wire);
        expect(back).toBeDefined();
        expect(back).toBeLessThanOrEqual(minor);
        expect(minor - (back ?? 0)).toBeLessThan(scaleFactor);
      }),
    );
  });
});

describe("FA FB frames", () => {
  it("encodes POLL and ACK like the reference and a direct drive with its checksum", () => {
    expect(encodeFrame(pollFrame)).toEqual(Buffer.from([0xfa, 0xfb, 0x41, 0x00, 0x40]));
    const drive = encodeFrame(directDriveFrame(7, 0x0b, true));
    expect([...drive]).toEqual([
      0xfa,
      0xfb,
      0x06,
      0x05,
      0x07,
      0x01,
      0x00,
      0x00,
      0x0b,
      xorChecksum(drive, drive.length - 1),
    ]);
    const reader = new FafbFrameReader();
    const [frame] = reader.push(drive, 0);
    expect(frame && parseDirectDrive(frame)).toEqual({ selection: 11, dropSensor: true, elevator: false });
    const status = reader.push(encodeFrame(dispensingStatusFrame(9, { status: 2, selection: 11 })), 0);
    expect(status[0]?.packNo).toBe(9);
    expect(status[0] && parseDispensingStatus(status[0])).toEqual({ status: 2, selection: 11 });
  });

  it("resynchronises: skips noise, drops bad checksums, reassembles split frames", () => {
    const reader = new FafbFrameReader();
    const poll = encodeFrame(pollFrame);
    const bad = Buffer.from(encodeFrame(dispensingStatusFrame(3, { status: 2, selection: 11 })));
    bad[bad.length - 1] = (bad[bad.length - 1] ?? 0) ^ 0xff;
    const stream = Buffer.concat([Buffer.from([0x00, 0xfa, 0x13, 0xfb]), bad, poll.subarray(0, 2)]);
    expect(reader.push(stream, 0)).toEqual([]);
    expect(reader.push(poll.subarray(2), 1)).toEqual([{ command: 0x41, text: Buffer.alloc(0) }]);
    expect(reader.badFrameCount).toBe(1);
    expect(reader.garbageByteCount).toBeGreaterThan(0);
  });

  it("abandons a stalled partial frame (a stray FA FB claiming a long frame)", () => {
    const reader = new FafbFrameReader({ stallMs: 50 });
    expect(reader.push(Buffer.from([0xfa, 0xfb, 0x04, 0x30, 0x01]), 0)).toEqual([]);
    expect(reader.push(encodeFrame(pollFrame), 100)).toHaveLength(1);
  });

  it("finds every real frame hidden in random noise, and random noise alone yields no frame with a bad checksum", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 20 }), { maxLength: 6 }), (noises) => {
        const reader = new FafbFrameReader();
        const frames = noises.flatMap((noise) => reader.push(Buffer.from(noise), 0));
        for (const frame of frames) {
          // A frame out of pure noise is possible only with a matching checksum; re-encoding must give the same bytes.
          expect(encodeFrame(frame).length).toBe(5 + (frame.packNo === undefined ? 0 : 1 + frame.text.length));
        }
        const fresh = new FafbFrameReader({ stallMs: 0 });
        const found = fresh.push(Buffer.concat([Buffer.from(noises[0] ?? []), Buffer.from([0x00])]), 0);
        const real = fresh.push(encodeFrame(dispensingStatusFrame(5, { status: 2, selection: 12 })), 10);
        expect([...found, ...real].some((frame) => frame.command === 0x04 && frame.packNo === 5)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it("refuses what cannot be an amount, in both directions", () => {
    const money = new MdbMoney({ scaleFactor: 1, decimalPlaces: 2, currency: "EUR" });
    for (const minor of [-1, 1.5, Number.MAX_SAFE_INTEGER + 2, Number.NaN]) {
      expect(money.toRaw(minor, "floor"), String(minor)).toBeUndefined();
    }
    expect(money.toRaw(0, "exact")).toBe(0);
    for (const text of ["x1.50", "1.50x", "1.", ".5", "1.5000", "1234567890"]) {
      expect(money.wireToMinor(text), text).toBeUndefined();
    }
    expect(money.wireToMinor("123456789")).toBe(12_345_678_900);
  });

  it("refuses a bus value finer than the currency, and trims every trailing zero of the adapter's text", () => {
    const thousandths = new MdbMoney({ scaleFactor: 1, decimalPlaces: 3, currency: "EUR" });
    expect(thousandths.toMinor(1_505)).toBeUndefined();
    expect(thousandths.toMinor(1_500)).toBe(150);
    const tenths = new MdbMoney({ scaleFactor: 1, decimalPlaces: 1, currency: "EUR" });
    expect(tenths.fromWire("1.500")).toBe(15);
    expect(tenths.wireToMinor("1.500")).toBe(150);
    expect(tenths.fromWire("1.550")).toBeUndefined();
  });
});
