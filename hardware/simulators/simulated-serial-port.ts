import type { Duplex } from "node:stream";
import type { StreamConnector } from "../serial/stream-connector.ts";
import { duplexPair } from "./duplex-pair.ts";

/**
 * An in-memory serial port with a USB plug: the driver opens it through `connector` (a StreamConnector like the real
 * one), the simulated device gets the other end through `onDevice`. `unplug()` breaks the link (both ends close) and
 * makes opens fail like a missing /dev node until `replug()`.
 */
export class SimulatedSerialPort {
  readonly path: string;
  #plugged = true;
  #hostEnd: Duplex | undefined;
  #deviceEnd: Duplex | undefined;
  readonly #onDevice: (stream: Duplex) => void;
  #opens = 0;

  constructor(path: string, onDevice: (stream: Duplex) => void) {
    this.path = path;
    this.#onDevice = onDevice;
  }

  /** How many times the driver opened the port (1 + reconnects). */
  get openCount(): number {
    return this.#opens;
  }

  get plugged(): boolean {
    return this.#plugged;
  }

  readonly connector: StreamConnector = async () => {
    if (!this.#plugged) {
      throw Object.assign(new Error(`ENOENT: no such file or directory, open '${this.path}'`), { code: "ENOENT" });
    }
    if (this.#hostEnd && !this.#hostEnd.destroyed)
      throw new Error("Error Resource temporarily unavailable Cannot lock port");
    const [host, device] = duplexPair();
    this.#hostEnd = host;
    this.#deviceEnd = device;
    this.#opens++;
    this.#onDevice(device);
    return host;
  };

  unplug(): void {
    this.#plugged = false;
    this.#deviceEnd?.destroy();
    this.#hostEnd?.destroy();
  }

  replug(): void {
    this.#plugged = true;
  }
}
