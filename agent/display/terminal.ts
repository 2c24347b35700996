import type { Clock } from "../../platform/clock.ts";
import { createQrMatrix, type QrMatrix, recommendedQuietZone } from "./qr.ts";
import { bodyLines } from "./raster-screen.ts";
import type { Display, Screen } from "./screens.ts";

/**
 * The terminal renderer: the QR in Unicode half blocks (two module rows per text row, so it is square on a terminal
 * whose cells are twice as tall as wide) and the screen's text under it.
 *
 * Colours: with colour allowed, the QR is painted black on an explicit white background, so it scans on any terminal
 * theme. Without colour (NO_COLOR, not a TTY, TERM=dumb) there is no way to force a background, so the blocks are
 * drawn for the usual light-on-dark console: the glyph's ink marks the LIGHT modules (quiet zone included) and the
 * terminal's dark background shows through as the dark modules. `invert` swaps that for a dark-on-light terminal.
 */

const upper = "\u2580"; // ▀
const lower = "\u2584"; // ▄
const full = "\u2588"; // █

export interface TerminalQrOptions {
  color: boolean;
  /** Without colour: ink marks the dark modules (for terminals with a light background). */
  invert?: boolean;
  quietZone?: number;
}

/** Which modules a glyph's ink marks, for a given option set (also what a reader of the text must assume). */
export function inkMarksDark(options: TerminalQrOptions): boolean {
  return options.color || options.invert === true;
}

export function terminalQr(matrix: QrMatrix, options: TerminalQrOptions): string[] {
  const zone = options.quietZone ?? recommendedQuietZone;
  const inkDark = inkMarksDark(options);
  const ink = (row: number, column: number) => {
    const dark = matrix.isDark(row - zone, column - zone);
    return inkDark ? dark : !dark;
  };
  const side = matrix.size + 2 * zone;
  const lines: string[] = [];
  for (let row = 0; row < side; row += 2) {
    let line = "";
    for (let column = 0; column < side; column++) {
      const top = ink(row, column);
      // An odd side leaves the last text row with only a top half; the missing row counts as quiet zone.
      const bottom = row + 1 < side ? ink(row + 1, column) : !inkDark;
      line += top && bottom ? full : top ? upper : bottom ? lower : " ";
    }
    lines.push(options.color ? `\x1b[30;47m${line}\x1b[0m` : line);
  }
  return lines;
}

/** The whole screen as text: QR (if any), title, body lines and footer. */
export function terminalScreenText(
  screen: Screen,
  options: TerminalQrOptions & { now: number; qrFor?: (payload: string) => QrMatrix },
): string {
  const lines: string[] = [];
  if (screen.qr) {
    const matrix = (options.qrFor ?? createQrMatrix)(screen.qr.payload);
    lines.push(...terminalQr(matrix, options), "");
  }
  const bold = (text: string) => (options.color ? `\x1b[1m${text}\x1b[0m` : text);
  const dim = (text: string) => (options.color ? `\x1b[2m${text}\x1b[0m` : text);
  lines.push(bold(screen.title), ...bodyLines(screen, options.now).map((line) => `  ${line}`), dim(screen.footer));
  return `${lines.join("\n")}\n`;
}

export interface TerminalDisplayOptions {
  stream: NodeJS.WritableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  clock: Clock;
  invert?: boolean;
}

/** Colour only on a TTY, never with NO_COLOR (no-color.org) or TERM=dumb: the same rule as the CLI's output. */
export function terminalColorAllowed(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  return Boolean(stream.isTTY) && env.NO_COLOR === undefined && env.TERM !== "dumb";
}

export function createTerminalDisplay(options: TerminalDisplayOptions): Display {
  const color = terminalColorAllowed(options.stream, options.env);
  const cache = new Map<string, QrMatrix>();
  const qrFor = (payload: string) => {
    const matrix = cache.get(payload) ?? createQrMatrix(payload);
    cache.set(payload, matrix);
    return matrix;
  };
  return {
    show: (screen) => {
      // On a TTY each screen replaces the last one; in a log (not a TTY) screens follow each other.
      const clear = options.stream.isTTY ? "\x1b[2J\x1b[H" : "";
      options.stream.write(
        clear +
          terminalScreenText(screen, {
            color,
            ...(options.invert === undefined ? {} : { invert: options.invert }),
            now: options.clock.now(),
            qrFor,
          }),
      );
    },
    close: () => {},
  };
}
