import type { OpenOptions } from "@serialport/stream";
import type { SerialPort } from "serialport";

// @serialport/bindings-interface ships types only for `require`, which NodeNext ESM cannot see; derive the two types
// we need from the packages that re-use them.

/** A serialport binding: the native one (`SerialPort.binding`) or `MockBinding`. */
export type SerialBinding = OpenOptions["binding"];

/** One entry of `SerialPort.list()`. */
export type UdevPortInfo = Awaited<ReturnType<typeof SerialPort.list>>[number];
