import type { FafbFrame } from "./fafb-frame.ts";

/** Command bytes of the FA FB protocol that we use (hardware-reference §3.1). */
export const fafbCommand = {
  poll: 0x41,
  ack: 0x42,
  /** Board -> host: dispensing status `[pack, status, selection(2)]`. */
  dispensingStatus: 0x04,
  /** Host -> board: direct drive `[pack, dropSensorEnable, elevatorEnable, selection(2)]`. */
  directDrive: 0x06,
} as const;

/** Status byte of a dispensing status report. */
export const dispensingStatus = {
  dispensing: 0x01,
  success: 0x02,
  jammed: 0x03,
  motorDidNotStop: 0x04,
  motorMissing: 0x06,
  elevatorError: 0x07,
  terminated: 0xff,
} as const;

export const pollFrame: FafbFrame = { command: fafbCommand.poll, text: Buffer.alloc(0) };
export const ackFrame: FafbFrame = { command: fafbCommand.ack, text: Buffer.alloc(0) };

export function directDriveFrame(packNo: number, selection: number, dropSensor: boolean): FafbFrame {
  if (!Number.isInteger(selection) || selection < 0 || selection > 0xffff) {
    throw new RangeError(`selection ${selection} is not a board selection number`);
  }
  return {
    command: fafbCommand.directDrive,
    packNo,
    text: Buffer.from([dropSensor ? 1 : 0, 0, selection >> 8, selection & 0xff]),
  };
}

export interface DirectDrive {
  selection: number;
  dropSensor: boolean;
  elevator: boolean;
}

export function parseDirectDrive(frame: FafbFrame): DirectDrive | undefined {
  if (frame.command !== fafbCommand.directDrive || frame.text.length !== 4) return undefined;
  return {
    dropSensor: frame.text[0] === 1,
    elevator: frame.text[1] === 1,
    selection: ((frame.text[2] ?? 0) << 8) | (frame.text[3] ?? 0),
  };
}

export interface DispensingReport {
  status: number;
  selection: number;
}

export function dispensingStatusFrame(packNo: number, report: DispensingReport): FafbFrame {
  return {
    command: fafbCommand.dispensingStatus,
    packNo,
    text: Buffer.from([report.status, report.selection >> 8, report.selection & 0xff]),
  };
}

export function parseDispensingStatus(frame: FafbFrame): DispensingReport | undefined {
  if (frame.command !== fafbCommand.dispensingStatus || frame.text.length !== 3) return undefined;
  return { status: frame.text[0] ?? 0, selection: ((frame.text[1] ?? 0) << 8) | (frame.text[2] ?? 0) };
}

/** Packet numbers run 1..255 and wrap to 1 (0 is not used). */
export function nextPackNo(packNo: number): number {
  return packNo >= 255 ? 1 : packNo + 1;
}
