import { afterAll, afterEach, describe, expect, it } from "vitest";
import { probePort } from "../../hardware/serial/probe-port.ts";
import { nativeSerialBinding, serialPortConnector } from "../../hardware/serial/stream-connector.ts";
import { SpiralBoardSimulator } from "../../hardware/simulators/spiral-board-simulator.ts";
import type { VmcSimulatorOptions } from "../../hardware/simulators/vmc-simulator.ts";
import { dispensingStatusFrame } from "../../hardware/spiral/fafb-commands.ts";
import { encodeFrame } from "../../hardware/spiral/fafb-frame.ts";
import { SpiralBoardMechanism } from "../../hardware/spiral/spiral-board-mechanism.ts";
import { silentLogger } from "../../platform/logger.ts";
import { eventually } from "../helpers/eventually.ts";
import { hasTool } from "../helpers/system-tools.ts";
import { closeStream, openDevice, PtyRigs } from "./pty-rigs.ts";
import { spiralCatalog, vendLeftInFlight } from "./rigs.ts";

/** Drivers over socat pty pairs (test/hardware/pty-rigs.ts): the real serialport binding on both ends. */

describe.runIf(hasTool("socat"))("drivers over socat pty pairs with the real serialport binding", () => {
  const rigs = new PtyRigs();
  const pair = () => rigs.pair();
  const mdbOverPty = (vmcOptions: VmcSimulatorOptions = {}) => rigs.mdb(vmcOptions);

  afterEach(() => rigs.cleanup());
  afterAll(() => rigs.closeAll());

  it("MDB: setup, session, selection, approval and VEND SUCCESS over a real pty", async () => {
    const { vmc, mechanism, seen } = await mdbOverPty();
    expect(vmc.config.get("mdb-currency-code")).toBe("0x1978");
    await mechanism.openSession(1_000);
    expect(vmc.funds).toBe("10.00");
    mechanism.on("selection", (request) => {
      void mechanism.vend(request.selection, request.priceMinor ?? 0).then((outcome) => outcomes.push(outcome.outcome));
    });
    const outcomes: string[] = [];
    vmc.customerSelects(11, "1.50");
    await eventually(() => expect(outcomes).toEqual(["delivered"]));
    expect(seen.selections).toEqual([{ selection: "A1", priceMinor: 150, mdbItem: 11, requestId: 1 }]);
    expect(vmc.approvals).toEqual(["1.50"]);
  });

  it("MDB: garbage bytes and lines on the pty: no crash, nothing billed, the next vend works", async () => {
    const { vmc, mechanism, seen } = await mdbOverPty();
    await mechanism.openSession(1_000);
    vmc.inject(Buffer.from([0x00, 0xff, 0xfe, 0x0a, 0x1b, 0x5b, 0x41, 0x0d, 0x0a]));
    vmc.inject("c,VEND,SUCCESSS\nc,STATUS,VEND,1.50\nc,ERR\n\n\n");
    vmc.inject(`${"\u00aa".repeat(600)}\n`);
    vmc.nextResults.push("no-reply");
    const garbageBefore = mechanism.garbageLineCount;
    vmc.customerSelects(11, "1.50");
    await eventually(() => expect(seen.selections).toHaveLength(1));
    const pending = mechanism.vend("A1", 150);
    await eventually(() => expect(vmc.approvals).toHaveLength(1));
    vmc.inject("c,VEND,SUCCESS,1\nc,vend,success\n\u0000c,VEND,SUCCESS\u0000\n");
    vmc.customerCancels(); // the VMC ends the session without a vend result
    await expect(pending).resolves.toMatchObject({ outcome: "unknown" });
    await eventually(() => expect(mechanism.garbageLineCount).toBeGreaterThan(garbageBefore + 5));
    expect(mechanism.isUp()).toBe(true);
    await mechanism.openSession(1_000);
    const outcomes: string[] = [];
    mechanism.on("selection", (request) => {
      void mechanism.vend(request.selection, request.priceMinor ?? 0).then((outcome) => outcomes.push(outcome.outcome));
    });
    vmc.customerSelects(12, "2.00");
    await eventually(() => expect(outcomes).toEqual(["delivered"]));
  });

  it("MDB: unplugged mid-vend (socat killed) -> unknown; replugged -> reconnect and the adapter is set up again", async () => {
    const { vmc, mechanism, seen, unplug, replug } = await mdbOverPty();
    const { outcome } = await vendLeftInFlight(vmc, mechanism, seen);
    expect(vmc.setupCount).toBe(1);
    await unplug();
    await expect(outcome).resolves.toMatchObject({ outcome: "unknown", evidence: "link-lost" });
    await eventually(() => expect(mechanism.isUp()).toBe(false));
    expect(seen.closed).toContain("link lost");
    await new Promise((resolve) => setTimeout(resolve, 300));
    await replug();
    await eventually(() => expect(mechanism.isUp()).toBe(true));
    expect(vmc.setupCount).toBe(2);
    expect(vmc.config.get("mdb-decimal-places")).toBe("2");
    expect(seen.links).toEqual(["up", "down", "up"]);
    await mechanism.openSession(500);
    expect(vmc.state).toBe("IDLE");
  });

  it("probePort identifies the simulated adapter through a by-id-like link, and explains the lock the driver holds", async () => {
    const { ptys } = await mdbOverPty();
    const locked = await probePort(ptys.hostPath, { protocol: "qibixx", timeoutMs: 5_000 });
    expect(locked).toMatchObject({ ok: false, opened: false, errorKind: "locked" });
    expect(locked.device).toMatch(/^\/dev\/pts\/\d+$/);
  });

  it("spiral board: polls, direct drive, success with drop sensor, garbage resynchronised, jam reported", async () => {
    const ptys = await pair();
    const board = new SpiralBoardSimulator({ pollIntervalMs: 20, vendDurationMs: 100 });
    const device = await openDevice(ptys.devicePath, 57600);
    board.attach(device);
    const mechanism = new SpiralBoardMechanism({
      path: ptys.hostPath,
      connect: serialPortConnector({ path: ptys.hostPath, baudRate: 57600, binding: nativeSerialBinding }),
      settings: { dropSensor: true, dispenseTimeoutMs: 3_000, silenceMs: 500 },
      catalog: spiralCatalog,
      logger: silentLogger(),
    });
    rigs.onCleanup(async () => {
      await mechanism.stop();
      board.detach();
      await closeStream(device);
    });
    await mechanism.start();
    await expect(mechanism.vend("11", 2_500)).resolves.toEqual({ outcome: "delivered", evidence: "drop-sensor" });
    board.inject(Buffer.from([0xfa, 0xfb, 0x04, 0x04, 0x09, 0x02, 0x00, 0x0b, 0x00, 0x13, 0x37]));
    board.inject(encodeFrame(dispensingStatusFrame(200, { status: 2, selection: 12 }))); // valid, but for no dispense
    board.script(12, "jam");
    await expect(mechanism.vend("12", 2_000)).resolves.toMatchObject({ outcome: "jammed" });
    expect(board.executed.map((drive) => drive.selection)).toEqual([11, 12]);
    expect(mechanism.badFrameCount + mechanism.garbageByteCount).toBeGreaterThan(0);
  });
});
