/**
 * Frames of the "VMC <-> upper computer" spiral-board protocol (hardware-reference §3.1):
 *   FA FB | command | length | data (packet number + text; empty for POLL/ACK) | XOR of all previous bytes
 * The reader resynchronises on noise: it scans for FA FB, drops frames whose checksum is wrong and abandons a partial
 * frame that stalls (at 57600 baud a whole frame takes a few ms; a "frame" still incomplete after `stallMs` was a
 * stray FA FB in garbage, and waiting for its claimed length would swallow the next real frames).
 */

export const frameHeader = [0xfa, 0xfb] as const;
/** The longest data field we accept; the board's real frames are far shorter. */
export const maxDataLength = 64;

export interface FafbFrame {
  command: number;
  /** Packet number (1-255) of data frames; absent for POLL and ACK, which carry no data. */
  packNo?: number;
  /** The text after the packet number. */
  text: Buffer;
}

export function xorChecksum(bytes: Uint8Array, end = bytes.length): number {
  let sum = 0;
  for (let index = 0; index < end; index++) sum ^= bytes[index] ?? 0;
  return sum;
}

export function encodeFrame(frame: FafbFrame): Buffer {
  const data = frame.packNo === undefined ? Buffer.alloc(0) : Buffer.concat([Buffer.from([frame.packNo]), frame.text]);
  if (data.length > maxDataLength) throw new RangeError(`frame data of ${data.length} bytes is too long`);
  const bytes = Buffer.concat([Buffer.from([...frameHeader, frame.command, data.length]), data, Buffer.alloc(1)]);
  bytes[bytes.length - 1] = xorChecksum(bytes, bytes.length - 1);
  return bytes;
}

export class FafbFrameReader {
  readonly #stallMs: number;
  #buffer = Buffer.alloc(0);
  #partialSince = 0;
  #garbageBytes = 0;
  #badFrames = 0;

  constructor(options: { stallMs?: number } = {}) {
    this.#stallMs = options.stallMs ?? 50;
  }

  /** Bytes skipped while hunting for a frame header. */
  get garbageByteCount(): number {
    return this.#garbageBytes;
  }

  /** Frames dropped for a wrong checksum, an impossible length or a stall. */
  get badFrameCount(): number {
    return this.#badFrames;
  }

  reset(): void {
    this.#buffer = Buffer.alloc(0);
  }

  push(chunk: Buffer, now = Date.now()): FafbFrame[] {
    if (this.#buffer.length > 0 && now - this.#partialSince > this.#stallMs) {
      // A stalled partial frame: keep only what might still start a real one (after its first byte).
      this.#badFrames++;
      this.#buffer = this.#buffer.subarray(1);
    }
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    const frames: FafbFrame[] = [];
    for (;;) {
      const start = this.#findHeader();
      if (start < 0) break;
      if (this.#buffer.length < 4) break;
      const length = this.#buffer[3] ?? 0;
      if (length > maxDataLength) {
        this.#drop(1, true);
        continue;
      }
      const total = 5 + length;
      if (this.#buffer.length < total) break;
      const bytes = this.#buffer.subarray(0, total);
      if (xorChecksum(bytes, total - 1) !== bytes[total - 1]) {
        this.#drop(1, true);
        continue;
      }
      const command = bytes[2] ?? 0;
      const data = bytes.subarray(4, 4 + length);
      frames.push(
        length === 0
          ? { command, text: Buffer.alloc(0) }
          : { command, packNo: data[0] ?? 0, text: Buffer.from(data.subarray(1)) },
      );
      this.#buffer = this.#buffer.subarray(total);
    }
    if (this.#buffer.length > 0) this.#partialSince = now;
    return frames;
  }

  /** Moves the buffer to the next FA FB; returns 0 when one starts the buffer, -1 when there is none yet. */
  #findHeader(): number {
    for (let index = 0; index < this.#buffer.length; index++) {
      if (this.#buffer[index] !== 0xfa) continue;
      const next = this.#buffer[index + 1];
      if (next === undefined || next === 0xfb) {
        this.#garbageBytes += index;
        this.#buffer = this.#buffer.subarray(index);
        return next === undefined ? -1 : 0;
      }
    }
    this.#garbageBytes += this.#buffer.length;
    this.#buffer = Buffer.alloc(0);
    return -1;
  }

  #drop(bytes: number, bad: boolean): void {
    if (bad) this.#badFrames++;
    this.#buffer = this.#buffer.subarray(bytes);
  }
}
