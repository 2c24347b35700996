import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  ackFrame,
  directDriveFrame,
  dispensingStatusFrame,
  fafbCommand,
  pollFrame,
} from "../../hardware/spiral/fafb-commands.ts";
import { encodeFrame } from "../../hardware/spiral/fafb-frame.ts";
import { FafbHostLink } from "../../hardware/spiral/fafb-host-link.ts";
import { silentLogger } from "../../platform/logger.ts";
import { spiralRig } from "./rigs.ts";

async function settle(ms = 0) {
  await vi.advanceTimersByTimeAsync(ms);
}

async function startedRig(options: Parameters<typeof spiralRig>[0] = {}) {
  const rig = spiralRig(options);
  const started = rig.mechanism.start();
  await settle(250);
  await started;
  return rig;
}

describe("spiral board driver with the simulated board (FA FB)", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("comes up on the board's first POLL and answers every POLL with ACK", async () => {
    const { board, mechanism, seen } = await startedRig();
    expect(mechanism.isUp()).toBe(true);
    expect(seen.links).toEqual(["up"]);
    await settle(1_000);
    expect(board.ackCount).toBeGreaterThanOrEqual(5);
    await mechanism.stop();
  });

  it("direct-drives with the drop sensor and reports delivered on status 02", async () => {
    const { board, mechanism } = await startedRig();
    const outcome = mechanism.vend("11", 2_500);
    await settle(1_700);
    await expect(outcome).resolves.toEqual({ outcome: "delivered", evidence: "drop-sensor" });
    expect(board.executed).toEqual([{ selection: 11, dropSensor: true, elevator: false }]);
    await mechanism.stop();
  });

  it("without the drop sensor a success is only a home cycle", async () => {
    const { board, mechanism } = await startedRig({ settings: { dropSensor: false } });
    board.script(12, "missed-drop");
    const outcome = mechanism.vend("12", 2_000);
    await settle(1_700);
    await expect(outcome).resolves.toEqual({ outcome: "delivered", evidence: "home-cycle" });
    await mechanism.stop();
  });

  it("a jam (03) or a missed drop with the sensor on is jammed, a missing motor is not delivered; faults are raised", async () => {
    const { board, mechanism, seen } = await startedRig();
    board.script(11, "jam", "missed-drop", "motor-missing");
    for (const expected of ["jammed", "jammed", "not-delivered"]) {
      const outcome = mechanism.vend("11", 2_500);
      await settle(1_700);
      await expect(outcome).resolves.toMatchObject({ outcome: expected });
    }
    expect(seen.faults).toEqual(["spiral-jammed", "spiral-jammed", "spiral-motor-missing"]);
    await mechanism.stop();
  });

  it("no final status within dispenseTimeoutMs is unknown", async () => {
    const { board, mechanism } = await startedRig({ settings: { dispenseTimeoutMs: 5_000 } });
    board.script(11, "no-final-status");
    const outcome = mechanism.vend("11", 2_500);
    await settle(5_100);
    await expect(outcome).resolves.toMatchObject({
      outcome: "unknown",
      evidence: "none",
      detail: expect.stringMatching(/accepted/),
    });
    await mechanism.stop();
  });

  it("the board going silent mid-dispense is unknown (link lost) and the link goes down", async () => {
    const { board, mechanism, seen } = await startedRig();
    board.script(11, "no-final-status");
    const outcome = mechanism.vend("11", 2_500);
    await settle(600);
    board.silent = true;
    await settle(1_500);
    await expect(outcome).resolves.toMatchObject({ outcome: "unknown", evidence: "link-lost" });
    expect(seen.links).toEqual(["up", "down"]);
    board.silent = false;
    await settle(400);
    expect(seen.links).toEqual(["up", "down", "up"]);
    await mechanism.stop();
  });

  it("unplugged mid-dispense: unknown; after replug it polls again and vends", async () => {
    const { board, port, mechanism } = await startedRig();
    board.script(11, "no-final-status");
    const outcome = mechanism.vend("11", 2_500);
    await settle(500);
    port.unplug();
    await settle(1);
    await expect(outcome).resolves.toMatchObject({ outcome: "unknown", evidence: "link-lost" });
    port.replug();
    await settle(1_000);
    expect(mechanism.isUp()).toBe(true);
    const next = mechanism.vend("12", 2_000);
    await settle(1_700);
    await expect(next).resolves.toMatchObject({ outcome: "delivered" });
    await mechanism.stop();
  });

  it("a valid-looking success report that comes before the board accepted our command is not a result", async () => {
    const { board, mechanism } = await startedRig();
    board.script(11, "no-final-status");
    const outcome = mechanism.vend("11", 2_500);
    board.inject(encodeFrame(dispensingStatusFrame(42, { status: 2, selection: 11 })));
    await settle(5);
    board.inject(encodeFrame(dispensingStatusFrame(43, { status: 2, selection: 11 })));
    await settle(10_100);
    await expect(outcome).resolves.toMatchObject({ outcome: "unknown" });
    await mechanism.stop();
  });

  it("garbage bytes between frames: resynchronises, nothing billed, the vend still completes", async () => {
    const { board, mechanism } = await startedRig();
    // Noise, a stray header, a forged "success" with a wrong checksum, and a valid success for a dispense nobody asked.
    const forged = Buffer.from(encodeFrame(dispensingStatusFrame(77, { status: 2, selection: 11 })));
    forged[forged.length - 1] = (forged[forged.length - 1] ?? 0) ^ 0x5a;
    board.inject(Buffer.from([0x00, 0xff, 0xfa, 0x00, 0xfb, 0xfa, 0xfb, 0x99]));
    board.inject(forged);
    board.inject(encodeFrame(dispensingStatusFrame(78, { status: 2, selection: 11 })));
    await settle(400);
    expect(mechanism.isUp()).toBe(true);
    board.script(11, "no-final-status");
    const outcome = mechanism.vend("11", 2_500);
    await settle(300);
    board.inject(forged);
    board.inject(Buffer.from("garbage garbage \xfa\xfb", "latin1"));
    await settle(11_000);
    await expect(outcome).resolves.toMatchObject({ outcome: "unknown" });
    expect(mechanism.badFrameCount + mechanism.garbageByteCount).toBeGreaterThan(0);
    const next = mechanism.vend("12", 2_000);
    await settle(1_700);
    await expect(next).resolves.toEqual({ outcome: "delivered", evidence: "drop-sensor" });
    await mechanism.stop();
  });
});

describe("FA FB host link: retries and packet numbers", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("offers a command on up to 5 POLLs with the same packet number, then gives up", async () => {
    const written: Buffer[] = [];
    const link = new FafbHostLink({ write: async (bytes) => void written.push(bytes), logger: silentLogger() });
    const sent = link.send(fafbCommand.directDrive, directDriveFrame(0, 11, true).text);
    sent.catch(() => {});
    for (let poll = 0; poll < 6; poll++) link.receive(encodeFrame(pollFrame));
    await expect(sent).rejects.toThrow(/after 5 tries/);
    const drives = written.filter((bytes) => bytes[2] === fafbCommand.directDrive);
    expect(drives).toHaveLength(5);
    expect(new Set(drives.map((bytes) => bytes[4]))).toEqual(new Set([1]));
    expect(written.at(-1)).toEqual(encodeFrame(ackFrame));
  });

  it("ACKs a board frame, reports it once even when the board repeats it", () => {
    const written: Buffer[] = [];
    const link = new FafbHostLink({ write: async (bytes) => void written.push(bytes), logger: silentLogger() });
    const frames: number[] = [];
    link.on("frame", (frame) => frames.push(frame.packNo ?? -1));
    const report = encodeFrame(dispensingStatusFrame(4, { status: 2, selection: 11 }));
    link.receive(report);
    link.receive(report);
    link.receive(encodeFrame(dispensingStatusFrame(5, { status: 2, selection: 11 })));
    expect(frames).toEqual([4, 5]);
    expect(written.filter((bytes) => bytes.equals(encodeFrame(ackFrame)))).toHaveLength(3);
    link.reset("test");
  });

  it("the simulated board runs a repeated command once (same packet number) when our ACK got lost", async () => {
    const { SpiralBoardSimulator } = await import("../../hardware/simulators/spiral-board-simulator.ts");
    const { duplexPair } = await import("../../hardware/simulators/duplex-pair.ts");
    const board = new SpiralBoardSimulator({ pollIntervalMs: 200 });
    const [host, device] = duplexPair();
    board.attach(device);
    const drive = encodeFrame(directDriveFrame(9, 11, true));
    host.write(drive);
    host.write(drive);
    await settle(1);
    expect(board.executed).toHaveLength(1);
    board.detach();
    host.destroy();
  });
});
