import { glyphAdvance, glyphColumns, glyphHeight, toFontText } from "./bitmap-font.ts";
import { placeQr, type QrMatrix, type QrPlacement } from "./qr.ts";

/**
 * An RGB pixel buffer and the few drawing operations a screen without a browser needs: rectangles, the QR matrix at a
 * whole number of pixels per module, and bitmap text. The framebuffer renderer and the PNG sticker both draw here.
 */

export type Rgb = readonly [number, number, number];

export const white: Rgb = [255, 255, 255];
export const black: Rgb = [0, 0, 0];

export interface Raster {
  readonly width: number;
  readonly height: number;
  /** 3 bytes per pixel, R G B, rows top to bottom with no padding. */
  readonly data: Uint8Array;
}

export function createRaster(width: number, height: number, background: Rgb = white): Raster {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new RangeError(`raster size ${width}x${height} is not a positive whole size`);
  }
  const raster = { width, height, data: new Uint8Array(width * height * 3) };
  fillRect(raster, 0, 0, width, height, background);
  return raster;
}

export function fillRect(raster: Raster, x: number, y: number, w: number, h: number, color: Rgb): void {
  const x0 = Math.max(0, Math.floor(x));
  const y0 = Math.max(0, Math.floor(y));
  const x1 = Math.min(raster.width, Math.floor(x + w));
  const y1 = Math.min(raster.height, Math.floor(y + h));
  for (let row = y0; row < y1; row++) {
    for (let column = x0; column < x1; column++) {
      const offset = (row * raster.width + column) * 3;
      raster.data[offset] = color[0];
      raster.data[offset + 1] = color[1];
      raster.data[offset + 2] = color[2];
    }
  }
}

/** Draws the QR with its quiet zone (always white, whatever the background) in a square at (x, y). */
export function drawQr(raster: Raster, matrix: QrMatrix, x: number, y: number, placement: QrPlacement): void {
  const { moduleSize, quietZone, sidePx } = placement;
  fillRect(raster, x, y, sidePx, sidePx, white);
  for (let row = 0; row < matrix.size; row++) {
    for (let column = 0; column < matrix.size; column++) {
      if (!matrix.isDark(row, column)) continue;
      fillRect(
        raster,
        x + (column + quietZone) * moduleSize,
        y + (row + quietZone) * moduleSize,
        moduleSize,
        moduleSize,
        black,
      );
    }
  }
}

export function textWidth(text: string, scale: number): number {
  const length = toFontText(text).length;
  return length === 0 ? 0 : (length * glyphAdvance - 1) * scale;
}

export function textHeight(scale: number): number {
  return glyphHeight * scale;
}

export function drawText(raster: Raster, text: string, x: number, y: number, scale: number, color: Rgb): void {
  const folded = toFontText(text);
  for (let index = 0; index < folded.length; index++) {
    const columns = glyphColumns(folded.charAt(index));
    const left = x + index * glyphAdvance * scale;
    columns.forEach((bits, column) => {
      for (let row = 0; row < glyphHeight; row++) {
        if ((bits >> row) & 1) fillRect(raster, left + column * scale, y + row * scale, scale, scale, color);
      }
    });
  }
}

/** Splits text into lines no wider than `maxWidth` at `scale`, breaking at spaces (long words are cut). */
export function wrapText(text: string, maxWidth: number, scale: number): string[] {
  const maxChars = Math.max(1, Math.floor((maxWidth / scale + 1) / glyphAdvance));
  const lines: string[] = [];
  let current = "";
  for (const word of text.split(/\s+/).filter(Boolean)) {
    let rest = word;
    while (rest.length > maxChars) {
      if (current) lines.push(current);
      current = "";
      lines.push(rest.slice(0, maxChars));
      rest = rest.slice(maxChars);
    }
    const candidate = current ? `${current} ${rest}` : rest;
    if (candidate.length <= maxChars) current = candidate;
    else {
      lines.push(current);
      current = rest;
    }
  }
  if (current) lines.push(current);
  return lines;
}

/** Places the QR in a square box and draws it centred there; returns where it went. */
export function drawQrInBox(raster: Raster, matrix: QrMatrix, x: number, y: number, side: number): QrPlacement {
  const placement = placeQr(matrix, side);
  const offset = Math.floor((side - placement.sidePx) / 2);
  drawQr(raster, matrix, x + offset, y + offset, placement);
  return placement;
}
