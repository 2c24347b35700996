/**
 * Splits a byte stream into text lines (`\n`, with an optional `\r` before it). Bytes are read as latin1 so garbage
 * never throws a decoding error; a "line" that grows past `maxLineLength` without a newline is noise (a wrong baud
 * rate, a floating RX pin) and is dropped and counted rather than buffered without bound.
 */
export class LineFramer {
  readonly #maxLineLength: number;
  #buffer = "";
  #overflows = 0;

  constructor(maxLineLength = 256) {
    this.#maxLineLength = maxLineLength;
  }

  get overflowCount(): number {
    return this.#overflows;
  }

  push(chunk: Buffer | string): string[] {
    this.#buffer += typeof chunk === "string" ? chunk : chunk.toString("latin1");
    const lines: string[] = [];
    let newline = this.#buffer.indexOf("\n");
    while (newline >= 0) {
      const line = this.#buffer.slice(0, newline).replace(/\r$/, "");
      this.#buffer = this.#buffer.slice(newline + 1);
      if (line.length > this.#maxLineLength) this.#overflows++;
      else if (line.length > 0) lines.push(line);
      newline = this.#buffer.indexOf("\n");
    }
    if (this.#buffer.length > this.#maxLineLength) {
      this.#buffer = "";
      this.#overflows++;
    }
    return lines;
  }

  /** Forgets a partial line (after a reconnect the half line before the unplug is meaningless). */
  reset(): void {
    this.#buffer = "";
  }
}
