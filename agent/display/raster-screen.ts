import { createQrMatrix, type QrMatrix } from "./qr.ts";
import {
  black,
  createRaster,
  drawQrInBox,
  drawText,
  fillRect,
  type Raster,
  type Rgb,
  textHeight,
  textWidth,
  wrapText,
} from "./raster.ts";
import { type Screen, type ScreenTone, secondsLeft } from "./screens.ts";

/**
 * Lays a `Screen` out on a pixel raster for screens without a browser (SPI panels on the framebuffer, the PNG
 * sticker): the QR as large as the screen allows beside (landscape) or above (portrait) the text, a coloured title,
 * and the lines, products and countdown in bitmap type scaled to the screen.
 */

const toneColors: Record<ScreenTone, Rgb> = {
  neutral: black,
  busy: [0, 60, 150],
  success: [0, 110, 40],
  error: [170, 0, 0],
};

/** The lines of body text a screen shows under its title, countdown and products included. */
export function bodyLines(screen: Screen, now: number): string[] {
  const lines = [...screen.lines];
  if (screen.countdown) lines.push(`${secondsLeft(screen.countdown.deadline, now)} s left`);
  for (const product of screen.products ?? [])
    lines.push(`${product.selection}  ${product.name}  ${product.priceText}`);
  for (const product of screen.overBudget ?? [])
    lines.push(`${product.selection}  ${product.name}  ${product.priceText}: over your budget`);
  return lines;
}

function largestScale(texts: readonly string[], width: number, maxScale: number): number {
  const longest = Math.max(1, ...texts.map((text) => textWidth(text, 1)));
  return Math.max(1, Math.min(maxScale, Math.floor(width / longest)));
}

interface TextLine {
  text: string;
  scale: number;
  color: Rgb;
}

/** Title and body at the largest scales whose wrapped lines fit the box, title larger than body. */
function fitText(screen: Screen, width: number, height: number, now: number): { lines: TextLine[]; total: number } {
  const body = bodyLines(screen, now);
  let best: { lines: TextLine[]; total: number } | undefined;
  for (let titleScale = Math.min(8, largestScale([screen.title], width, 8)); titleScale >= 1; titleScale--) {
    const bodyScale = Math.max(1, Math.min(titleScale > 2 ? titleScale - 1 : titleScale, largestScale(body, width, 5)));
    const lines: TextLine[] = [
      ...wrapText(screen.title, width, titleScale).map((text) => ({
        text,
        scale: titleScale,
        color: toneColors[screen.tone],
      })),
      ...body.flatMap((line) =>
        wrapText(line, width, bodyScale).map((text) => ({ text, scale: bodyScale, color: black })),
      ),
    ];
    const total =
      lines.reduce((sum, line) => sum + textHeight(line.scale) + lineGap(line.scale), 0) + textHeight(bodyScale);
    best = { lines, total };
    if (total <= height) break;
  }
  return best ?? { lines: [], total: 0 };
}

function lineGap(scale: number): number {
  return Math.max(2, scale * 3);
}

/** One line of bitmap text as laid out: where, at which scale, in which colour. */
export interface LaidText {
  text: string;
  x: number;
  y: number;
  scale: number;
  color: Rgb;
  /** Small print (the machine's footer): held to a smaller minimum size than the customer's text. */
  smallPrint: boolean;
}

/** What `drawScreen` paints, computed without drawing, so that tests can check the real layout. */
export interface ScreenLayout {
  width: number;
  height: number;
  bar: { height: number; color: Rgb };
  /** The square box the QR is drawn in, centred, at a whole number of pixels per module. */
  qr?: { x: number; y: number; side: number };
  /**
   * The text, page by page: one page when everything fits; more when a list does not, each page with the screen's
   * heading, shown in turn (`pageShownAt`).
   */
  pages: LaidText[][];
}

function layoutTextBlock(screen: Screen, x: number, y: number, width: number, height: number, now: number) {
  const margin = Math.max(4, Math.floor(Math.min(width, height) / 30));
  const footerHeight = textHeight(1) + margin;
  const inner = width - 2 * margin;
  const available = height - 2 * margin - footerHeight;
  const { lines, total } = fitText(screen, inner, available, now);
  const texts: LaidText[] = [];
  // Centred vertically; the extra gap after the title is part of `total`.
  let cursor = y + margin + Math.max(0, Math.floor((available - total) / 2));
  lines.forEach((line, index) => {
    if (cursor + textHeight(line.scale) > y + height - footerHeight) return;
    texts.push({
      text: line.text,
      x: x + margin + Math.max(0, Math.floor((inner - textWidth(line.text, line.scale)) / 2)),
      y: cursor,
      scale: line.scale,
      color: line.color,
      smallPrint: false,
    });
    cursor += textHeight(line.scale) + lineGap(line.scale);
    const next = lines[index + 1];
    if (next && next.scale !== line.scale && line.scale === lines[0]?.scale) cursor += textHeight(next.scale);
  });
  texts.push({
    text: screen.footer,
    x: x + margin,
    y: y + height - margin - textHeight(1),
    scale: 1,
    color: [110, 110, 110],
    smallPrint: true,
  });
  return texts;
}

export interface RasterScreenOptions {
  now: number;
  /** Cache of the QR matrix by payload, so that a countdown redraw does not re-encode. */
  qrFor?: (payload: string) => QrMatrix;
}

export interface LayoutOptions {
  now: number;
  /** Cache of the QR matrix by payload, so that a countdown redraw does not re-encode. */
  qrFor?: (payload: string) => QrMatrix;
}

/** Pure: where the bar, the QR and every line of text of `screen` go on a `width` x `height` panel. */
export function layoutScreen(screen: Screen, width: number, height: number, options: LayoutOptions): ScreenLayout {
  const bar = { height: Math.max(2, Math.floor(height / 60)), color: toneColors[screen.tone] };
  if (!screen.qr) return { width, height, bar, pages: [layoutTextBlock(screen, 0, 0, width, height, options.now)] };
  if (width >= height * 1.25) {
    // Landscape: the QR on the left as tall as the screen (leaving the text at least 40% of the width).
    const side = Math.min(height, Math.floor(width * 0.6));
    return {
      width,
      height,
      bar,
      qr: { x: 0, y: Math.floor((height - side) / 2), side },
      pages: [layoutTextBlock(screen, side, 0, width - side, height, options.now)],
    };
  }
  // Portrait or square: the QR on top, as wide as fits while leaving a quarter of the height to the text.
  const side = Math.min(width, Math.floor(height * 0.75));
  return {
    width,
    height,
    bar,
    qr: { x: Math.floor((width - side) / 2), y: 0, side },
    pages: [layoutTextBlock(screen, 0, side, width, height - side, options.now)],
  };
}

export function drawScreen(screen: Screen, width: number, height: number, options: RasterScreenOptions): Raster {
  const raster = createRaster(width, height);
  const qrFor = options.qrFor ?? ((payload: string) => createQrMatrix(payload));
  const layout = layoutScreen(screen, width, height, { ...options, qrFor });
  fillRect(raster, 0, 0, width, layout.bar.height, layout.bar.color);
  if (screen.qr && layout.qr) drawQrInBox(raster, qrFor(screen.qr.payload), layout.qr.x, layout.qr.y, layout.qr.side);
  for (const text of layout.pages[0] ?? []) drawText(raster, text.text, text.x, text.y, text.scale, text.color);
  return raster;
}
