import QRCode from "qrcode";

export { seqrQrPayload } from "./seqr-qr-payload.ts";

/**
 * The machine's SEQR QR code (seqr-protocol §2; what it encodes: seqr-qr-payload.ts). The symbol is made once here
 * as a module matrix; every renderer (kiosk SVG, framebuffer, terminal, sticker files) draws the same matrix, so what
 * one renderer shows is what all of them show.
 */

export type ErrorCorrection = "M" | "Q" | "H";

/** SEQR's print guideline asks for ECC M; Q and H are allowed (more robust, larger symbol), L is not. */
export const defaultErrorCorrection: ErrorCorrection = "M";
/** Modules of white border around the symbol: the standard asks 4, SEQR's print guideline accepts 2. */
export const recommendedQuietZone = 4;
export const minimumQuietZone = 2;

export interface QrMatrix {
  readonly payload: string;
  /** Modules per side, without the quiet zone. */
  readonly size: number;
  readonly version: number;
  readonly errorCorrection: ErrorCorrection;
  /** True for a dark module; row and column from 0 to size - 1. Outside the symbol is light (the quiet zone). */
  isDark(row: number, column: number): boolean;
}

export function createQrMatrix(payload: string, errorCorrection: ErrorCorrection = defaultErrorCorrection): QrMatrix {
  const code = QRCode.create(payload, { errorCorrectionLevel: errorCorrection });
  const { size, data } = code.modules;
  return {
    payload,
    size,
    version: code.version,
    errorCorrection,
    isDark: (row, column) => row >= 0 && column >= 0 && row < size && column < size && data[row * size + column] === 1,
  };
}

export interface QrPlacement {
  /** Pixels per module: an integer, so that every module has the same size (scanners dislike uneven modules). */
  moduleSize: number;
  quietZone: number;
  /** Side of the symbol with its quiet zone, in pixels. */
  sidePx: number;
}

/**
 * Sizes the QR for a square of `availablePx`: the largest whole module size that fits the symbol with the recommended
 * quiet zone, else with the minimum one. Throws when even one pixel per module does not fit: a QR that cannot be
 * scanned must not be shown as if it could.
 */
export function placeQr(
  matrix: Pick<QrMatrix, "size">,
  availablePx: number,
  quietZone = recommendedQuietZone,
): QrPlacement {
  if (quietZone < minimumQuietZone)
    throw new RangeError(`a quiet zone of ${quietZone} modules is below ${minimumQuietZone}`);
  for (const zone of quietZone > minimumQuietZone ? [quietZone, minimumQuietZone] : [quietZone]) {
    const modules = matrix.size + 2 * zone;
    const moduleSize = Math.floor(availablePx / modules);
    if (moduleSize >= 1) return { moduleSize, quietZone: zone, sidePx: moduleSize * modules };
  }
  throw new RangeError(`${availablePx} px cannot hold a ${matrix.size}-module QR code with its quiet zone`);
}

/** The QR as a standalone SVG (one path of unit squares, crisp edges), light background including the quiet zone. */
export function qrSvg(
  matrix: QrMatrix,
  options: { quietZone?: number; sizePx?: number; dark?: string; light?: string } = {},
): string {
  const zone = Math.max(minimumQuietZone, options.quietZone ?? recommendedQuietZone);
  const side = matrix.size + 2 * zone;
  const runs: string[] = [];
  for (let row = 0; row < matrix.size; row++) {
    let column = 0;
    while (column < matrix.size) {
      if (!matrix.isDark(row, column)) {
        column++;
        continue;
      }
      const start = column;
      while (column < matrix.size && matrix.isDark(row, column)) column++;
      runs.push(`M${start + zone} ${row + zone}h${column - start}v1h-${column - start}z`);
    }
  }
  const size = options.sizePx === undefined ? "" : ` width="${options.sizePx}" height="${options.sizePx}"`;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${side} ${side}"${size} shape-rendering="crispEdges" role="img" aria-label="SEQR QR code">` +
    `<rect width="${side}" height="${side}" fill="${options.light ?? "#fff"}"/>` +
    `<path fill="${options.dark ?? "#000"}" d="${runs.join("")}"/></svg>`
  );
}
