import type { Duplex } from "node:stream";
// @serialport/stream is the binding-agnostic stream of serialport 13 (a dependency of it): it lets us inject the real
// binding or MockBinding, where the `SerialPort` class always auto-detects the native one. Loaded by the first open
// (below), so an agent configured without a serial device never holds it in memory.
import type { SerialPortStream } from "@serialport/stream";
import { explainSerialError } from "./serial-errors.ts";
import type { SerialBinding } from "./serial-types.ts";

/** Opens the device and resolves with an open byte stream; rejects with an explained SerialPortError. */
export type StreamConnector = () => Promise<Duplex>;

export interface SerialPortConnectorOptions {
  path: string;
  baudRate: number;
  /** The native binding (`SerialPort.binding`) in production, `MockBinding` in unit tests; or a loader of one. */
  binding: SerialBinding | (() => Promise<SerialBinding>);
}

export function serialPortConnector(options: SerialPortConnectorOptions): StreamConnector {
  return async () => {
    const binding = typeof options.binding === "function" ? await options.binding() : options.binding;
    const { SerialPortStream: PortStream } = await import("@serialport/stream");
    return new Promise<Duplex>((resolve, reject) => {
      let port: SerialPortStream;
      try {
        port = new PortStream({
          binding,
          path: options.path,
          baudRate: options.baudRate,
          autoOpen: false,
        });
      } catch (error) {
        reject(explainSerialError(error, options.path));
        return;
      }
      port.open((error) => {
        if (error) reject(explainSerialError(error, options.path));
        else resolve(port);
      });
    });
  };
}

/** Loads the platform's native binding only when a real port is opened (tests never load it by accident). */
export async function nativeSerialBinding(): Promise<SerialBinding> {
  const { SerialPort } = await import("serialport");
  return SerialPort.binding as SerialBinding;
}
