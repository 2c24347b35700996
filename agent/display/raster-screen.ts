import { glyphAdvance } from "./bitmap-font.ts";
import { minimumScale, minimumSmallPrintMm, minimumTextMm, pixelPitchMm } from "./panel-pitch.ts";
import { createQrMatrix, type QrMatrix, recommendedQuietZone } from "./qr.ts";
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
 * Lays a `Screen` out on a pixel raster for screens without a browser (SPI panels on the framebuffer): the QR as
 * large as the screen allows beside or above the text, a coloured title, and the lines, products and countdown in
 * bitmap type. Text is sized in millimetres for the panel (panel-pitch.ts): at least 3.5 mm, small print 2 mm, larger
 * when there is room. What does not fit at that size uses the screen's compact wording, then pages shown in turn;
 * nothing is left out. `layoutScreen` is pure (the tests check it); `drawScreen` paints it.
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
   * heading and footer, shown in turn (`pageShownAt`).
   */
  pages: LaidText[][];
}

const grey: Rgb = [110, 110, 110];
const overBudgetColor: Rgb = [120, 120, 120];
/** How long each page of a screen that does not fit stays up. */
export const pageMs = 4_000;

function lineGap(scale: number): number {
  return Math.max(2, scale * 2);
}

/** One row of text at one scale; its parts share the row (a product and its price). */
interface Row {
  scale: number;
  parts: { text: string; align: "center" | "left" | "right"; color: Rgb }[];
}

/** Words wrapped to `width`; undefined when a word is longer than a line and `cut` is false. */
function wrap(text: string, width: number, scale: number, cut: boolean): string[] | undefined {
  const lines = wrapText(text, width, scale);
  if (!cut && text.split(/\s+/).some((word) => textWidth(word, scale) > width)) return undefined;
  return lines;
}

function rowsOf(text: string, width: number, scale: number, color: Rgb, cut: boolean, align: Row["parts"][0]["align"]) {
  return wrap(text, width, scale, cut)?.map((line): Row => ({ scale, parts: [{ text: line, align, color }] }));
}

function rowsHeight(rows: readonly Row[]): number {
  return rows.reduce((sum, row, index) => sum + textHeight(row.scale) + (index > 0 ? lineGap(row.scale) : 0), 0);
}

interface Wording {
  title: string;
  lines: string[];
}

interface TextPlan {
  /** The title's rows: on every page. */
  title: Row[];
  /** The lines' and the countdown's rows: on every page too, unless together they are more than a page. */
  lines: Row[];
  /** Each product is one block of rows, never split across pages. */
  items: Row[][];
}

/** The heading and the product rows at a title and a body scale, or undefined when a word does not fit a line. */
function planText(
  screen: Screen,
  wording: Wording,
  width: number,
  titleScale: number,
  bodyScale: number,
  now: number,
  cut: boolean,
): TextPlan | undefined {
  const title = rowsOf(wording.title, width, titleScale, toneColors[screen.tone], cut, "center");
  if (!title) return undefined;
  const lines: Row[] = [];
  const add = (rows: Row[] | undefined) => {
    if (!rows) return false;
    lines.push(...rows);
    return true;
  };
  for (const line of wording.lines) if (!add(rowsOf(line, width, bodyScale, black, cut, "center"))) return undefined;
  if (screen.countdown) {
    const left = `${secondsLeft(screen.countdown.deadline, now)} s left`;
    if (!add(rowsOf(left, width, bodyScale, black, cut, "center"))) return undefined;
  }
  const items: Row[][] = [];
  const products = [
    ...(screen.products ?? []).map((product) => ({ product, price: product.priceText, color: black })),
    ...(screen.overBudget ?? []).map((product) => ({
      product,
      price: `${product.priceText}: over your budget`,
      color: overBudgetColor,
    })),
  ];
  for (const { product, price, color } of products) {
    const name = `${product.selection} ${product.name}`;
    const space = 2 * glyphAdvance * bodyScale;
    if (textWidth(name, bodyScale) + space + textWidth(price, bodyScale) <= width) {
      items.push([
        {
          scale: bodyScale,
          parts: [
            { text: name, align: "left", color },
            { text: price, align: "right", color },
          ],
        },
      ]);
      continue;
    }
    const nameRows = rowsOf(name, width, bodyScale, color, cut, "left");
    // The price alone on its row at the right; a price with words that wrap reads better from the left.
    const priceRows = wrap(price, width, bodyScale, cut)?.map(
      (line, _, all): Row => ({
        scale: bodyScale,
        parts: [{ text: line, align: all.length === 1 ? "right" : "left", color }],
      }),
    );
    if (!nameRows || !priceRows) return undefined;
    items.push([...nameRows, ...priceRows]);
  }
  return { title, lines, items };
}

/**
 * The plan split into pages of at most `height` pixels, or undefined when a page cannot hold even one item. Each page
 * has the title and the lines; when the lines alone are more than a page (a long fault message), they flow over the
 * pages under the title, row by row, before the products.
 */
function paginate(plan: TextPlan, height: number): Row[][] | undefined {
  const heading = [...plan.title, ...plan.lines];
  if (rowsHeight(heading) <= height) return fillPages(heading, plan.items, height);
  return fillPages(plan.title, [...plan.lines.map((row) => [row]), ...plan.items], height);
}

function fillPages(heading: readonly Row[], items: readonly Row[][], height: number): Row[][] | undefined {
  if (rowsHeight(heading) > height) return undefined;
  if (items.length === 0) return [[...heading]];
  const pages: Row[][] = [];
  let page: Row[] | undefined;
  for (const item of items) {
    if (page && rowsHeight([...page, ...item]) <= height) {
      page.push(...item);
      continue;
    }
    page = [...heading, ...item];
    if (rowsHeight(page) > height) return undefined;
    pages.push(page);
  }
  return pages;
}

/** Rows placed in a column from `top`, each part aligned in the column. */
function placeRows(rows: readonly Row[], x: number, top: number, width: number): LaidText[] {
  const texts: LaidText[] = [];
  let y = top;
  rows.forEach((row, index) => {
    if (index > 0) y += lineGap(row.scale);
    for (const part of row.parts) {
      const partWidth = textWidth(part.text, row.scale);
      const offset =
        part.align === "left" ? 0 : part.align === "right" ? width - partWidth : Math.floor((width - partWidth) / 2);
      texts.push({ text: part.text, x: x + offset, y, scale: row.scale, color: part.color, smallPrint: false });
    }
    y += textHeight(row.scale);
  });
  return texts;
}

interface Metrics {
  margin: number;
  bar: number;
  mainScale: number;
  smallScale: number;
  maxScale: number;
}

function metricsFor(width: number, height: number, pitchMm: number): Metrics {
  const mainScale = minimumScale(minimumTextMm, pitchMm);
  return {
    margin: Math.max(4, Math.floor(Math.min(width, height) / 60)),
    bar: Math.max(2, Math.floor(height / 60)),
    mainScale,
    smallScale: minimumScale(minimumSmallPrintMm, pitchMm),
    // Larger than the minimum when there is room, up to about a tenth of the short side.
    maxScale: Math.max(mainScale, Math.floor(Math.min(width, height) / 80)),
  };
}

/** The footer's rows at the bottom of the panel, room kept for a page number ("2/3") when there are pages. */
function footerRows(screen: Screen, width: number, metrics: Metrics, paged: boolean): string[] {
  const reserve = paged ? textWidth(" 99/99", metrics.smallScale) : 0;
  return wrapText(screen.footer, width - 2 * metrics.margin - reserve, metrics.smallScale);
}

function footerHeight(rows: readonly string[], metrics: Metrics): number {
  return rows.length * textHeight(metrics.smallScale) + (rows.length - 1) * lineGap(metrics.smallScale);
}

function placeFooter(rows: readonly string[], width: number, height: number, metrics: Metrics, page?: string) {
  const { margin, smallScale } = metrics;
  let y = height - margin - footerHeight(rows, metrics);
  const texts: LaidText[] = [];
  for (const row of rows) {
    texts.push({ text: row, x: margin, y, scale: smallScale, color: grey, smallPrint: true });
    y += textHeight(smallScale) + lineGap(smallScale);
  }
  if (page) {
    const x = width - margin - textWidth(page, smallScale);
    texts.push({
      text: page,
      x,
      y: y - textHeight(smallScale) - lineGap(smallScale),
      scale: smallScale,
      color: grey,
      smallPrint: true,
    });
  }
  return texts;
}

function wordingsOf(screen: Screen): Wording[] {
  return [{ title: screen.title, lines: screen.lines }, ...(screen.compact ? [screen.compact] : [])];
}

interface Choice {
  pages: Row[][];
}

/**
 * The text of a screen in a column: the full wording on one page at the largest scale that fits, else the compact
 * wording on one page, else (a long product list or message) pages at the minimum scale. Below the minimum only when
 * the title and one row do not fit a page, which the panel-size test keeps from happening on the SPI panels.
 */
function chooseText(screen: Screen, width: number, height: number, metrics: Metrics, now: number): Choice {
  for (const wording of wordingsOf(screen)) {
    for (let scale = metrics.maxScale; scale >= metrics.mainScale; scale--) {
      for (const titleScale of [scale + 1, scale]) {
        const plan = planText(screen, wording, width, titleScale, scale, now, false);
        const pages = plan && paginate(plan, height);
        if (pages?.length === 1) return { pages };
      }
    }
  }
  const shortest = wordingsOf(screen).at(-1) as Wording;
  for (let scale = metrics.mainScale; scale >= 1; scale--) {
    const plan = planText(screen, shortest, width, scale, scale, now, true) as TextPlan;
    const pages = paginate(plan, height);
    if (pages) return { pages };
  }
  const plan = planText(screen, shortest, width, 1, 1, now, true) as TextPlan;
  return { pages: [[...plan.title, ...plan.lines, ...plan.items.flat()]] };
}

/** The pages laid out in a column, all starting at the same height (centred on the tallest page). */
function placePages(pages: readonly Row[][], x: number, y: number, width: number, height: number): LaidText[][] {
  const tallest = Math.max(...pages.map(rowsHeight));
  const top = y + Math.max(0, Math.floor((height - tallest) / 2));
  return pages.map((rows) => placeRows(rows, x, top, width));
}

function withFooter(pages: LaidText[][], screen: Screen, width: number, height: number, metrics: Metrics) {
  const rows = footerRows(screen, width, metrics, pages.length > 1);
  return pages.map((page, index) => [
    ...page,
    ...placeFooter(rows, width, height, metrics, pages.length > 1 ? `${index + 1}/${pages.length}` : undefined),
  ]);
}

export interface RasterScreenOptions {
  now: number;
  /** Cache of the QR matrix by payload, so that a countdown redraw does not re-encode. */
  qrFor?: (payload: string) => QrMatrix;
  /** Millimetres per pixel; from the panel's resolution when absent (`pixelPitchMm`). */
  pixelPitchMm?: number;
}

interface QrChoice {
  moduleSize: number;
  fullWording: boolean;
  qr: { x: number; y: number; side: number };
  pages: LaidText[][];
}

/**
 * A screen with a QR: the QR as large as possible with the text beside it (landscape) or above it, the full wording
 * when it leaves the QR as large as the compact one does.
 */
function layoutWithQr(
  screen: Screen,
  modules: number,
  width: number,
  height: number,
  metrics: Metrics,
  mainScale: number,
  now: number,
): QrChoice | undefined {
  const { margin, bar } = metrics;
  const footerTop = height - margin - footerHeight(footerRows(screen, width, metrics, false), metrics) - margin;
  const top = bar + margin;
  const quiet = modules + 2 * recommendedQuietZone;
  let best: QrChoice | undefined;
  const consider = (choice: QrChoice) => {
    if (
      !best ||
      choice.moduleSize > best.moduleSize ||
      (choice.moduleSize === best.moduleSize && choice.fullWording && !best.fullWording)
    )
      best = choice;
  };
  wordingsOf(screen).forEach((wording, index) => {
    const fullWording = index === 0;
    for (const titleScale of [mainScale + 1, mainScale]) {
      // Beside: the QR on the left, from the top bar down to the footer; the text in the column to its right.
      for (let moduleSize = Math.floor((footerTop - bar) / quiet); moduleSize >= 2; moduleSize--) {
        const side = quiet * moduleSize;
        const column = width - side - 2 * margin;
        const plan = column > 0 ? planText(screen, wording, column, titleScale, mainScale, now, false) : undefined;
        const pages = plan && paginate(plan, footerTop - top);
        if (pages?.length !== 1) continue;
        consider({
          moduleSize,
          fullWording,
          qr: { x: 0, y: bar + Math.floor((footerTop - bar - side) / 2), side },
          pages: placePages(pages, side + margin, top, column, footerTop - top),
        });
        break;
      }
      // Above: the text across the top, the QR centred under it.
      const inner = width - 2 * margin;
      const plan = planText(screen, wording, inner, titleScale, mainScale, now, false);
      const pages = plan && paginate(plan, footerTop - top);
      if (pages?.length !== 1) continue;
      const textBottom = top + rowsHeight(pages[0] as Row[]);
      const room = Math.min(width, footerTop - textBottom - margin);
      const moduleSize = Math.floor(room / quiet);
      if (moduleSize < 2) continue;
      const side = quiet * moduleSize;
      consider({
        moduleSize,
        fullWording,
        qr: { x: Math.floor((width - side) / 2), y: textBottom + margin + Math.floor((room - side) / 2), side },
        pages: placePages(pages, margin, top, inner, textBottom - top),
      });
    }
  });
  return best;
}

/** Pure: where the bar, the QR and every line of text of `screen` go on a `width` x `height` panel. */
export function layoutScreen(
  screen: Screen,
  width: number,
  height: number,
  options: RasterScreenOptions,
): ScreenLayout {
  const metrics = metricsFor(width, height, options.pixelPitchMm ?? pixelPitchMm(width, height));
  const bar = { height: metrics.bar, color: toneColors[screen.tone] };
  if (screen.qr) {
    const qrFor = options.qrFor ?? ((payload: string) => createQrMatrix(payload));
    const modules = qrFor(screen.qr.payload).size;
    // The QR comes first: on a panel too small for it and the text at the minimum size, the text gets smaller.
    for (let scale = metrics.mainScale; scale >= 1; scale--) {
      const choice = layoutWithQr(screen, modules, width, height, metrics, scale, options.now);
      if (choice) {
        return { width, height, bar, qr: choice.qr, pages: withFooter(choice.pages, screen, width, height, metrics) };
      }
    }
    // Not even that: the QR alone, as large as the panel allows.
    const side = Math.min(width, height - metrics.bar);
    return { width, height, bar, qr: { x: Math.floor((width - side) / 2), y: metrics.bar, side }, pages: [[]] };
  }
  const { margin } = metrics;
  const footerTop = height - margin - footerHeight(footerRows(screen, width, metrics, true), metrics) - margin;
  const top = metrics.bar + margin;
  const inner = width - 2 * margin;
  const { pages } = chooseText(screen, inner, footerTop - top, metrics, options.now);
  return {
    width,
    height,
    bar,
    pages: withFooter(placePages(pages, margin, top, inner, footerTop - top), screen, width, height, metrics),
  };
}

/** Which page of a paged screen is up at `now`: each for `pageMs`, in turn. */
export function pageShownAt(layout: ScreenLayout, now: number): number {
  return Math.floor(now / pageMs) % layout.pages.length;
}

export function drawScreen(screen: Screen, width: number, height: number, options: RasterScreenOptions): Raster {
  const raster = createRaster(width, height);
  const qrFor = options.qrFor ?? ((payload: string) => createQrMatrix(payload));
  const layout = layoutScreen(screen, width, height, { ...options, qrFor });
  fillRect(raster, 0, 0, width, layout.bar.height, layout.bar.color);
  if (screen.qr && layout.qr) drawQrInBox(raster, qrFor(screen.qr.payload), layout.qr.x, layout.qr.y, layout.qr.side);
  for (const text of layout.pages[pageShownAt(layout, options.now)] ?? [])
    drawText(raster, text.text, text.x, text.y, text.scale, text.color);
  return raster;
}
