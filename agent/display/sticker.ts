import { writeFileSync } from "node:fs";
import { escapeHtml } from "../../platform/html.ts";
import { encodePng } from "./png.ts";
import { createQrMatrix, placeQr, type QrMatrix, qrSvg, recommendedQuietZone } from "./qr.ts";
import { black, createRaster, drawQr, drawText, textHeight, textWidth } from "./raster.ts";

/**
 * The printed sticker: the machine's QR with the standard quiet zone, a caption and the machine id under it, as PNG
 * (for any print shop) and SVG (scales to any size without blur). Machines with no screen at all get one of these.
 */

export interface StickerContent {
  payload: string;
  caption: string;
  machineLabel: string;
}

export function stickerSvg(content: StickerContent, matrix: QrMatrix = createQrMatrix(content.payload)): string {
  const side = matrix.size + 2 * recommendedQuietZone;
  // The QR's own viewBox units are modules; the caption sits in a band of 9 modules under it.
  const band = 9;
  const qr = qrSvg(matrix, { quietZone: recommendedQuietZone }).replace(/^<svg[^>]*>|<\/svg>$/g, "");
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${side} ${side + band}" width="${side * 10}" height="${(side + band) * 10}">` +
    `<rect width="${side}" height="${side + band}" fill="#fff"/>` +
    `<g shape-rendering="crispEdges">${qr}</g>` +
    `<text x="${side / 2}" y="${side + 3}" text-anchor="middle" font-family="sans-serif" font-size="3" font-weight="bold">${escapeHtml(content.caption)}</text>` +
    `<text x="${side / 2}" y="${side + 7}" text-anchor="middle" font-family="sans-serif" font-size="2" fill="#444">${escapeHtml(content.machineLabel)}</text>` +
    `</svg>\n`
  );
}

/** PNG sticker at `modulePx` pixels per module (10 px = about 0.85 mm per module at 300 dpi). */
export function stickerPng(
  content: StickerContent,
  modulePx = 10,
  matrix: QrMatrix = createQrMatrix(content.payload),
): Buffer {
  const side = (matrix.size + 2 * recommendedQuietZone) * modulePx;
  // As large as modulePx / 3 allows, but never wider than the sticker.
  const captionScale = Math.max(
    1,
    Math.min(Math.floor(modulePx / 3), Math.floor(side / Math.max(1, textWidth(content.caption, 1)))),
  );
  const labelScale = Math.max(1, Math.floor(modulePx / 5));
  const height = side + textHeight(captionScale) + textHeight(labelScale) + 4 * modulePx;
  const raster = createRaster(side, height);
  drawQr(raster, matrix, 0, 0, placeQr(matrix, side));
  const captionWidth = textWidth(content.caption, captionScale);
  drawText(
    raster,
    content.caption,
    Math.max(0, Math.floor((side - captionWidth) / 2)),
    side + modulePx,
    captionScale,
    black,
  );
  const labelWidth = textWidth(content.machineLabel, labelScale);
  drawText(
    raster,
    content.machineLabel,
    Math.max(0, Math.floor((side - labelWidth) / 2)),
    side + 2 * modulePx + textHeight(captionScale),
    labelScale,
    [68, 68, 68],
  );
  return encodePng(raster);
}

export function writeStickerFiles(content: StickerContent, files: { png?: string; svg?: string }): void {
  const matrix = createQrMatrix(content.payload);
  if (files.png) writeFileSync(files.png, stickerPng(content, 10, matrix));
  if (files.svg) writeFileSync(files.svg, stickerSvg(content, matrix));
}
