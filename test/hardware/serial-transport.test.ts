import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SerialPortMock } from "serialport";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { MdbCashlessMechanism } from "../../hardware/mdb/mdb-cashless-mechanism.ts";
import { backoffDelayMs } from "../../hardware/serial/backoff.ts";
import { commandOnPath, listSerialPorts, scanDevTree } from "../../hardware/serial/port-listing.ts";
import { probePort } from "../../hardware/serial/probe-port.ts";
import { explainSerialError } from "../../hardware/serial/serial-errors.ts";
import { SerialTransport } from "../../hardware/serial/serial-transport.ts";
import type { SerialBinding } from "../../hardware/serial/serial-types.ts";
import { serialPortConnector } from "../../hardware/serial/stream-connector.ts";
import { silentLogger } from "../../platform/logger.ts";
import { eventually } from "../helpers/eventually.ts";
import { mdbCatalog, mdbSettings, record } from "./rigs.ts";

// @serialport/binding-mock, reached through serialport's re-export: the package's own types are `require`-only.
const MockBinding = SerialPortMock.binding;

const binding = MockBinding as unknown as SerialBinding;
const path = "/dev/serial/by-id/usb-Qibixx_MDB-USB_0001-if00";

function flush() {
  return new Promise((resolve) => setImmediate(resolve));
}

describe("SerialTransport over @serialport/binding-mock", () => {
  beforeEach(() => MockBinding.reset());

  it("opens, runs the setup hook, passes bytes both ways, reports a closed port as down", async () => {
    MockBinding.createPort(path, { record: true });
    let port: Awaited<ReturnType<typeof MockBinding.open>> | undefined;
    const capturing = {
      ...binding,
      open: async (options: Parameters<SerialBinding["open"]>[0]) => {
        port = await MockBinding.open(options);
        return port;
      },
    } as SerialBinding;
    const onOpen = vi.fn(async () => {});
    const transport = new SerialTransport({
      path,
      connect: serialPortConnector({ path, baudRate: 115200, binding: capturing }),
      onOpen,
      logger: silentLogger(),
    });
    const chunks: string[] = [];
    transport.on("data", (chunk) => chunks.push(chunk.toString()));
    await transport.start();
    expect(onOpen).toHaveBeenCalledTimes(1);
    await transport.write("C,0\n");
    await flush();
    expect(port?.lastWrite?.toString()).toBe("C,0\n");
    port?.emitData("c,0\n");
    await eventually(() => expect(chunks.join("")).toBe("c,0\n"));
    await transport.stop();
    expect(transport.isUp()).toBe(false);
    await expect(transport.write("x")).rejects.toThrow(/down/);
  });

  it("explains 'Port is locked' / 'Cannot lock port' as another process holding the port", async () => {
    MockBinding.createPort(path);
    const holder = await MockBinding.open({ path, baudRate: 115200 });
    const connect = serialPortConnector({ path, baudRate: 115200, binding });
    await expect(connect()).rejects.toMatchObject({
      kind: "locked",
      message: expect.stringMatching(/another process/),
    });
    await holder.close();
    const error = explainSerialError(
      new Error("Error Resource temporarily unavailable Cannot lock port"),
      "/dev/ttyUSB0",
    );
    expect(error.kind).toBe("locked");
    expect(error.message).toMatch(/vend-agent/);
  });

  it("explains EACCES with the dialout group, and a missing device", async () => {
    const denied: SerialBinding = {
      ...binding,
      open: async () => {
        throw Object.assign(new Error("Error: Permission denied, cannot open /dev/ttyACM0"), { code: "EACCES" });
      },
    } as SerialBinding;
    const connect = serialPortConnector({ path: "/dev/ttyACM0", baudRate: 115200, binding: denied });
    await expect(connect()).rejects.toMatchObject({
      kind: "permission",
      message: expect.stringMatching(/dialout group/),
    });
    const missing = serialPortConnector({ path: "/dev/ttyUSB9", baudRate: 115200, binding });
    await expect(missing()).rejects.toMatchObject({ kind: "missing" });
  });

  it("probePort reports a permission problem with the fix and never throws", async () => {
    const denied = {
      ...binding,
      open: async () => {
        throw new Error("EACCES: permission denied");
      },
    } as SerialBinding;
    const result = await probePort("/dev/ttyACM0", { binding: denied });
    expect(result).toMatchObject({ ok: false, opened: false, errorKind: "permission" });
    expect(result.message).toMatch(/dialout/);
  });

  it("probePort identifies a Qibixx adapter by its answer to V", async () => {
    MockBinding.createPort("/dev/ttyACM0", { record: true });
    const answering = {
      ...binding,
      open: async (options: Parameters<SerialBinding["open"]>[0]) => {
        const port = await MockBinding.open(options);
        const write = port.write.bind(port);
        port.write = async (buffer: Buffer) => {
          await write(buffer);
          if (buffer.toString() === "V\n") setImmediate(() => port.emitData("v,4.0.1,ABCDEF\n"));
        };
        return port;
      },
    } as SerialBinding;
    const result = await probePort("/dev/ttyACM0", { binding: answering, protocol: "qibixx", timeoutMs: 500 });
    expect(result).toMatchObject({ ok: true, identified: "MDB adapter, firmware 4.0.1,ABCDEF" });
    MockBinding.createPort("/dev/ttyACM1");
    const silent = await probePort("/dev/ttyACM1", { binding, protocol: "qibixx", timeoutMs: 100 });
    expect(silent).toMatchObject({ ok: false, opened: true, errorKind: "no-answer" });
  });
});

describe("MDB driver over @serialport/binding-mock", () => {
  beforeEach(() => MockBinding.reset());

  it("writes the setup and answers a vend request on the port's bytes", async () => {
    MockBinding.createPort(path, { record: true });
    let port: Awaited<ReturnType<typeof MockBinding.open>> | undefined;
    const capturing = {
      ...binding,
      open: async (options: Parameters<SerialBinding["open"]>[0]) => {
        port = await MockBinding.open(options);
        const write = port.write.bind(port);
        // Play the adapter: acknowledge setup lines as they are written.
        port.write = async (buffer: Buffer) => {
          await write(buffer);
          const line = buffer.toString();
          // Every setup command is answered, as real adapters do (docs/mdb-adapters.md): the driver waits for each.
          const reply = line.startsWith("C,SETCONF")
            ? "c,SET,OK\n"
            : line === "C,0\n"
              ? "c,0\n"
              : line === "C,1\n"
                ? "c,1\nc,STATUS,ENABLED\n"
                : "";
          if (line.startsWith("C,START,")) setImmediate(() => port?.emitData(`c,STATUS,IDLE,${line.slice(8)}`));
          if (reply) setImmediate(() => port?.emitData(reply));
        };
        return port;
      },
    } as SerialBinding;
    const mechanism = new MdbCashlessMechanism({
      path,
      connect: serialPortConnector({ path, baudRate: 115200, binding: capturing }),
      settings: mdbSettings,
      catalog: mdbCatalog,
      logger: silentLogger(),
    });
    const seen = record(mechanism);
    await mechanism.start();
    await mechanism.openSession(300);
    port?.emitData("noise\u0007\nc,STATUS,VEND,1.50,11\n");
    await eventually(() => expect(seen.selections).toHaveLength(1));
    const outcome = mechanism.vend("A1", 150);
    await eventually(() => expect(port?.lastWrite?.toString()).toBe("C,VEND,1.50\n"));
    port?.emitData("c,VEND,SUCCESS\r\n");
    await expect(outcome).resolves.toEqual({ outcome: "delivered", evidence: "vend-success" });
    expect(port?.recording.toString()).toContain("C,START,3.00\n");
    expect(mechanism.garbageLineCount).toBe(1);
    await mechanism.stop();
  });
});

describe("reconnect backoff", () => {
  afterEach(() => vi.useRealTimers());

  it("grows exponentially with equal jitter and a cap", () => {
    const settings = { initialMs: 250, maxMs: 10_000 };
    expect(backoffDelayMs(0, settings, () => 0)).toBe(125);
    expect(backoffDelayMs(0, settings, () => 1)).toBe(250);
    expect(backoffDelayMs(3, settings, () => 1)).toBe(2_000);
    expect(backoffDelayMs(10, settings, () => 0)).toBe(5_000);
    expect(backoffDelayMs(50, settings, () => 1)).toBe(10_000);
  });

  it("reopens a device that is missing at start until it appears", async () => {
    vi.useFakeTimers();
    let present = false;
    let opens = 0;
    const { duplexPair } = await import("../../hardware/simulators/duplex-pair.ts");
    const transport = new SerialTransport({
      path: "/dev/ttyUSB0",
      connect: async () => {
        opens++;
        if (!present) throw Object.assign(new Error("ENOENT: no such file"), { code: "ENOENT" });
        return duplexPair()[0];
      },
      backoff: { initialMs: 100, maxMs: 1_000 },
      random: () => 1,
      logger: silentLogger(),
    });
    const errors: string[] = [];
    transport.on("error", (error) => errors.push(error.kind));
    const started = transport.start();
    await vi.advanceTimersByTimeAsync(100 + 200 + 400);
    expect(opens).toBe(4);
    expect(transport.isUp()).toBe(false);
    present = true;
    await vi.advanceTimersByTimeAsync(800);
    await started;
    expect(transport.isUp()).toBe(true);
    expect(errors.every((kind) => kind === "missing")).toBe(true);
    await transport.stop();
  });
});

describe("listing serial ports without udev", () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), "seqr-dev-"));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  function fakeDevTree() {
    for (const name of ["ttyUSB0", "ttyACM0", "ttyAMA0", "ttyS0", "null", "tty1"]) writeFileSync(join(root, name), "");
    symlinkSync("ttyAMA0", join(root, "serial0"));
    mkdirSync(join(root, "serial", "by-id"), { recursive: true });
    symlinkSync("../../ttyACM0", join(root, "serial", "by-id", "usb-Qibixx_MDB-USB_0001-if00"));
    symlinkSync("../../ttyUSB7", join(root, "serial", "by-id", "usb-gone-if00")); // dangling: unplugged
  }

  it("scans ttyUSB*, ttyACM*, ttyAMA*, serial0 and by-id links", () => {
    fakeDevTree();
    const entries = scanDevTree(root);
    expect(entries).toEqual([
      {
        path: join(root, "ttyACM0"),
        links: [join(root, "serial/by-id/usb-Qibixx_MDB-USB_0001-if00")],
        source: "dev-scan",
      },
      { path: join(root, "ttyAMA0"), links: [join(root, "serial0")], source: "dev-scan" },
      { path: join(root, "ttyUSB0"), links: [], source: "dev-scan" },
    ]);
  });

  it("never calls SerialPort.list() when udevadm is missing, and falls back when it fails", async () => {
    fakeDevTree();
    const udevList = vi.fn(async () => [
      { path: join(root, "ttyACM0"), manufacturer: "Qibixx", pnpId: "usb-Qibixx_MDB-USB_0001-if00" },
    ]);
    const without = await listSerialPorts({
      devRoot: root,
      udevadmAvailable: () => false,
      listWithUdev: udevList as never,
    });
    expect(udevList).not.toHaveBeenCalled();
    expect(without).toHaveLength(3);

    const failing = await listSerialPorts({
      devRoot: root,
      udevadmAvailable: () => true,
      listWithUdev: async () => {
        throw new Error("spawn udevadm ENOENT");
      },
    });
    expect(failing.map((entry) => entry.source)).toEqual(["dev-scan", "dev-scan", "dev-scan"]);

    const merged = await listSerialPorts({
      devRoot: root,
      udevadmAvailable: () => true,
      listWithUdev: udevList as never,
    });
    expect(merged.find((entry) => entry.path.endsWith("ttyACM0"))).toMatchObject({
      source: "udev",
      manufacturer: "Qibixx",
    });
  });

  it("finds commands on PATH without spawning", () => {
    const bin = join(root, "bin");
    mkdirSync(bin);
    writeFileSync(join(bin, "udevadm"), "#!/bin/sh\n", { mode: 0o755 });
    expect(commandOnPath("udevadm", bin)).toBe(true);
    expect(commandOnPath("udevadm", join(root, "nothing"))).toBe(false);
  });

  it("lists this machine's ports without crashing, udevadm or not", async () => {
    const ports = await listSerialPorts();
    expect(Array.isArray(ports)).toBe(true);
  });
});
