import { Duplex } from "node:stream";

/**
 * Two connected in-memory byte streams (what one writes, the other reads), like a serial cable. Node 20 has no
 * stream.duplexPair (added in 22.6). Destroying either end closes both, the way unplugging a USB adapter ends the
 * link for both sides.
 */
export function duplexPair(): [Duplex, Duplex] {
  let left: Duplex;
  let right: Duplex;
  const make = (peer: () => Duplex) =>
    new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, callback) {
        const other = peer();
        if (other.destroyed) {
          callback(new Error("the other end is closed"));
          return;
        }
        other.push(Buffer.from(chunk));
        callback();
      },
      final(callback) {
        peer().push(null);
        callback();
      },
      destroy(error, callback) {
        const other = peer();
        if (!other.destroyed) other.destroy();
        callback(error);
      },
    });
  left = make(() => right);
  right = make(() => left);
  return [left, right];
}
